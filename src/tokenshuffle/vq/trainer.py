"""The VQ tokenizer's training step: ``Trainer`` holds the model, EMA, optimisers and codebook usage.

Loss: L1 + L2 reconstruction, codebook + commitment (beta in ``VQConfig``), and optionally a
PatchGAN hinge loss from ``disc_start`` on, and a distillation term for a new encoder. Dead-code
restart moves codes that went unused for ``restart_every`` steps onto recent encoder outputs, which
keeps usage high without an entropy loss. The loop around it is ``vq.train``.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

from tokenshuffle.image_metrics import psnr
from tokenshuffle.integrity import NonFiniteState
from tokenshuffle.schedules import warmup_cosine_lr
from tokenshuffle.serialization import atomic_write
from tokenshuffle.vq import ddp
from tokenshuffle.vq.autoencoder import VQTokenizer
from tokenshuffle.vq.checkpoint import save_state
from tokenshuffle.vq.data import to_uint8
from tokenshuffle.vq.losses import PatchDiscriminator, hinge_d_loss, hinge_g_loss, reconstruction_loss
from tokenshuffle.vq.patching import is_patch_of, patched
from tokenshuffle.vq.train_config import VQTrainConfig

# Latents kept for dead-code restart: enough to draw fresh codes from several recent batches.
_LATENT_POOL = 16384


def lr_at(cfg: VQTrainConfig, step: int) -> float:
    return warmup_cosine_lr(step, peak=cfg.lr, warmup_steps=cfg.warmup_steps, num_steps=cfg.num_steps,
                            min_lr_ratio=cfg.min_lr_ratio)


def save_grid(path: Path, originals: torch.Tensor, recons: torch.Tensor) -> None:
    """Originals on the top row, reconstructions below, as one PNG."""
    grid = torch.cat([torch.cat(list(to_uint8(originals)), dim=2), torch.cat(list(to_uint8(recons)), dim=2)], dim=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(grid.permute(1, 2, 0).cpu().numpy())  # (H, W, 3)
    atomic_write(path, lambda p: image.save(p, format="PNG"))


class Trainer:
    """One tokenizer's training state (model, EMA, optimisers, codebook usage) and its step."""

    def __init__(self, cfg: VQTrainConfig, out: Path, info: ddp.DistInfo):
        device = info.device
        self.cfg, self.out, self.device, self.info = cfg, out, device, info
        self.bf16 = cfg.precision == "bf16" or (cfg.precision == "auto" and device.type == "cuda")
        torch.manual_seed(cfg.seed)
        self.model = VQTokenizer(cfg.vq).to(device)
        self.ema = copy.deepcopy(self.model).eval().requires_grad_(False) if cfg.ema_decay > 0 else None
        frozen = {"all": (), "decoder": ("encoder", "quant_proj", "quantizer"),
                  "encoder": ("quantizer", "post_quant_proj", "decoder")}[cfg.train_parts]
        for name in frozen:
            getattr(self.model, name).requires_grad_(False)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        # The parent's own encoder, frozen: the distillation target of a new encoder.
        self.teacher = None
        if cfg.distill_weight:
            self.teacher = self._parent(cfg.init_from).eval().requires_grad_(False).to(device)
        self.opt = torch.optim.AdamW(self.params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
        self.disc = self.opt_d = None
        if cfg.disc_weight > 0:
            self.disc = PatchDiscriminator(channels=cfg.disc_channels).to(device)
            self.opt_d = torch.optim.AdamW(self.disc.parameters(), lr=cfg.disc_lr, betas=cfg.betas)
        self.step = self.saved_step = 0
        self.usage = torch.zeros(cfg.vq.codebook_size, dtype=torch.long, device=device)
        self.window_used = 0.0  # fraction of codes used in the last complete restart window
        self.restart_gen = torch.Generator(device=device).manual_seed(cfg.seed + 1)
        self.pool: list[torch.Tensor] = []

    def state(self) -> dict:
        s = {"model": self.model.state_dict(), "opt": self.opt.state_dict(), "step": self.step, "usage": self.usage,
             "restart_gen": self.restart_gen.get_state(), "config": self.cfg.to_dict()}
        if self.ema is not None:
            s["ema"] = self.ema.state_dict()
        if self.disc is not None:
            s["disc"], s["opt_d"] = self.disc.state_dict(), self.opt_d.state_dict()
        return s

    def load(self, s: dict) -> None:
        self.model.load_state_dict(s["model"])
        self.opt.load_state_dict(s["opt"])
        self.step, self.usage = int(s["step"]), s["usage"].to(self.device)
        self.restart_gen.set_state(s["restart_gen"].cpu())
        if self.ema is not None:
            self.ema.load_state_dict(s.get("ema", s["model"]))
        if self.disc is not None and "disc" in s:
            self.disc.load_state_dict(s["disc"])
            self.opt_d.load_state_dict(s["opt_d"])
        # The loaded optimiser states carry the hyper-parameters they were saved with; the current
        # settings win (the lr is set every step from the schedule).
        for group in self.opt.param_groups:
            group["betas"], group["weight_decay"] = self.cfg.betas, self.cfg.weight_decay
        for group in self.opt_d.param_groups if self.opt_d is not None else ():
            group["betas"], group["lr"] = self.cfg.betas, self.cfg.disc_lr

    def _parent(self, folder: str) -> VQTokenizer:
        parent = VQTokenizer.from_pretrained(folder)
        if is_patch_of(parent.config, self.cfg.vq):
            parent = patched(parent, patch_size=self.cfg.vq.patch_size)
        return parent

    def init_weights(self, folder: str) -> None:
        """Start from a saved tokenizer's weights; its architecture must be the recipe's, or the recipe's
        without the space-to-depth stem (then it is grown by ``patching.patched``). A stage that trains
        only the encoder may start from a parent with another kind of encoder: every weight but the
        encoder's is the parent's, the encoder starts fresh."""
        parent = self._parent(folder)
        state = parent.state_dict()
        new_encoder = self.cfg.train_parts == "encoder" and parent.config.encoder != self.cfg.vq.encoder
        if new_encoder and dataclasses.replace(parent.config, encoder=self.cfg.vq.encoder) == self.cfg.vq:
            state = {**{k: v for k, v in state.items() if not k.startswith("encoder.")},
                     **{k: v for k, v in self.model.state_dict().items() if k.startswith("encoder.")}}
        elif parent.config != self.cfg.vq:
            raise ValueError(f"init_from {folder}: its tokenizer config {parent.config} is not the recipe's vq "
                             f"{self.cfg.vq}")
        self.model.load_state_dict(state)
        if self.ema is not None:
            self.ema.load_state_dict(state)

    def tokenizer(self) -> VQTokenizer:
        return self.ema if self.ema is not None else self.model

    def save(self) -> None:
        try:
            save_state(self.out / "checkpoint", self.state())
        except NonFiniteState as exc:
            raise NonFiniteState(f"weights are non-finite at step {self.step} ({exc}); not saved, the last "
                                 "checkpoint is kept — lower lr or raise grad_clip, then --resume") from None
        self.tokenizer().save_pretrained(self.out)
        self.saved_step = self.step

    def train_step(self, x: torch.Tensor) -> dict[str, float]:
        cfg, model = self.cfg, self.model
        for group in self.opt.param_groups:
            group["lr"] = lr_at(cfg, self.step)
        use_gan = self.disc is not None and self.step >= cfg.disc_start
        warm = self.step < cfg.quantizer_warmup
        with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
            out = model(x, bypass_quantizer=warm)
            rec = reconstruction_loss(out.recon, x, l1_weight=cfg.l1_weight, l2_weight=cfg.l2_weight)
            # While the quantizer is bypassed the commitment loss would pull every latent onto the
            # one code nearest to them all (a collapse), so the code losses start with the codes.
            loss = rec if warm else rec + cfg.codebook_weight * (out.codebook_loss + out.commitment_loss)
            g_loss = hinge_g_loss(self.disc(out.recon)) if use_gan else torch.zeros((), device=x.device)
            loss = loss + cfg.disc_weight * g_loss
            distill = self._distill_loss(x) if self.teacher is not None else torch.zeros((), device=x.device)
            loss = loss + cfg.distill_weight * distill
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        ddp.average_gradients(self.params, self.info)
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.params, cfg.grad_clip)
        self.opt.step()
        stats = {"loss": loss.item(), "rec": rec.item(), "commit": out.commitment_loss.item(), "g": g_loss.item()}
        if self.teacher is not None:
            stats["distill"] = distill.item()
        if use_gan:
            with torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                d_loss = hinge_d_loss(self.disc(x), self.disc(out.recon.detach()))
            self.opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            ddp.average_gradients(list(self.disc.parameters()), self.info)
            self.opt_d.step()
            ddp.broadcast_module(self.disc, self.info, buffers_only=True)
            stats["d"] = d_loss.item()
        if self.ema is not None:
            with torch.no_grad():
                for e, p in zip(self.ema.parameters(), model.parameters(), strict=True):
                    e.lerp_(p, 1.0 - cfg.ema_decay)
                for e, b in zip(self.ema.buffers(), model.buffers(), strict=True):
                    e.copy_(b)
        self._track_codes(out.codes, out.latents)
        if cfg.quantizer_warmup and self.step + 1 == cfg.quantizer_warmup:
            # The codes start where the warmed-up encoder puts its latents; usage restarts counting.
            if self.info.is_main:
                model.quantizer.init_from_latents(torch.cat(self.pool), generator=self.restart_gen)
            ddp.broadcast_module(model.quantizer, self.info)
            self.usage.zero_()
        stats["psnr"] = psnr(out.recon.detach().clamp(-1, 1), x, data_range=2.0).mean().item()
        self.step += 1
        return stats

    def _distill_loss(self, x: torch.Tensor) -> torch.Tensor:
        """Mean squared distance between the new encoder's and the parent's normalised latents."""
        with torch.no_grad():
            target = F.normalize(self.teacher.quant_proj(self.teacher.encoder(x)).float(), dim=1)  # (B, D, h, w)
        latent = F.normalize(self.model.quant_proj(self.model.encoder(x)).float(), dim=1)
        return (latent - target).pow(2).sum(1).mean()

    def _track_codes(self, codes: torch.Tensor, latents: torch.Tensor) -> None:
        cfg = self.cfg
        self.usage += torch.bincount(codes.flatten(), minlength=cfg.vq.codebook_size)
        self.pool.append(latents)
        while sum(t.shape[0] for t in self.pool) > _LATENT_POOL and len(self.pool) > 1:
            self.pool.pop(0)
        if cfg.restart_every and (self.step + 1) % cfg.restart_every == 0:
            ddp.all_sum_(self.usage, self.info)  # a code is dead only if no rank used it
            restarting = cfg.train_parts == "all" and cfg.quantizer_warmup <= self.step
            if restarting and self.step < cfg.restart_until * cfg.num_steps:
                if self.info.is_main:
                    self.model.quantizer.restart_codes(self.usage == 0, torch.cat(self.pool),
                                                       generator=self.restart_gen)
                ddp.broadcast_module(self.model.quantizer, self.info)
            self.window_used = (self.usage > 0).float().mean().item()
            self.usage.zero_()

    @torch.no_grad()
    def write_samples(self, x: torch.Tensor) -> None:
        model = self.tokenizer().eval()
        recon = model.decode(model.encode(x))
        save_grid(self.out / "samples" / f"step_{self.step:07d}.png", x, recon)
        self.model.train()
