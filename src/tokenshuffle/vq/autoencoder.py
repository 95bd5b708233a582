"""VQTokenizer: images in [-1, 1] <-> integer code grids.

Fully convolutional (plus attention at the lowest resolution), so any height and width that are
multiples of ``downsample`` work, square or not. ``VQConfig(encoder="patch")`` swaps the encoder for a
per-patch one (``PatchEncoder``) whose codes depend on nothing outside their own patch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from torch import nn

from tokenshuffle.serialization import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    atomic_write,
    cast_floating,
    load_state_strict,
    read_component,
)
from tokenshuffle.vq.blocks import Downsample, Level, MidBlock, Upsample, group_norm
from tokenshuffle.vq.config import VQConfig
from tokenshuffle.vq.quantizer import QuantizerOutput, VectorQuantizer

# Grids past DECODE_TILE codes a side (1024² at downsample 16) decode in tiles: one 2048² decode in a
# piece held 2.7 GB and ran attention over 16,384 positions, far past the training sizes.
DECODE_TILE = 64
DECODE_MARGIN = 8


def _blend_weights(start: int, stop: int, *, lo: int | None, hi: int | None, band: int, device) -> torch.Tensor:
    """(stop - start,) weights of a tile's decoded pixels along one axis: 1 inside, falling linearly to 0
    across the band of ``band`` pixels either side of a block edge that has a neighbour (``lo``/``hi``;
    None at the image border); a neighbour's weights rise across the same band, so the two sum to one."""
    p = torch.arange(start, stop, device=device, dtype=torch.float32) + 0.5  # pixel centres
    weight = torch.ones(stop - start, device=device)
    if lo is not None:
        weight = weight * ((p - (lo - band)) / (2 * band)).clamp(0, 1)
    if hi is not None:
        weight = weight * (((hi + band) - p) / (2 * band)).clamp(0, 1)
    return weight


class Encoder(nn.Module):
    def __init__(self, cfg: VQConfig):
        super().__init__()
        widths = [cfg.base_channels * m for m in cfg.channel_mult]
        last = len(widths) - 1
        self.patch = cfg.patch_size
        self.conv_in = nn.Conv2d(3 * self.patch**2, cfg.base_channels, 3, padding=1)
        self.levels = nn.ModuleList(
            Level(
                cfg.base_channels if i == 0 else widths[i - 1],
                widths[i],
                num_blocks=cfg.num_res_blocks,
                attn=i == last,
                resample=Downsample if i != last else None,
                groups=cfg.groups,
                dropout=cfg.dropout,
            )
            for i in range(len(widths))
        )
        self.mid = MidBlock(widths[-1], groups=cfg.groups, dropout=cfg.dropout)
        self.norm_out = group_norm(widths[-1], cfg.groups)
        self.conv_out = nn.Conv2d(widths[-1], cfg.z_channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.patch > 1:
            x = F.pixel_unshuffle(x, self.patch)  # (B, 3, H, W) -> (B, 3 p², H/p, W/p)
        h = self.conv_in(x)
        for level in self.levels:
            h = level(h)
        h = self.mid(h)
        return self.conv_out(F.silu(self.norm_out(h)))


class PatchEncoder(nn.Module):
    """Each code from its own f x f pixel patch only (f = the downsample factor): space-to-depth,
    then the same MLP (1x1 convolutions) at every patch. No norm, no attention, no receptive field
    beyond the patch, so a patch is encoded identically anywhere in any image."""

    def __init__(self, cfg: VQConfig):
        super().__init__()
        self.patch = cfg.downsample
        hidden = 4 * cfg.z_channels
        self.mlp = nn.Sequential(
            nn.Conv2d(3 * self.patch**2, hidden, 1), nn.SiLU(),
            nn.Conv2d(hidden, hidden, 1), nn.SiLU(),
            nn.Conv2d(hidden, cfg.z_channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(F.pixel_unshuffle(x, self.patch))  # (B, 3, H, W) -> (B, 3 f², H/f, W/f) -> (B, z, h, w)


class Decoder(nn.Module):
    """Mirror of the encoder. ``levels[i]`` works at the resolution of encoder level ``i``; they
    run from the lowest resolution (last) to full resolution (``levels[0]``)."""

    def __init__(self, cfg: VQConfig):
        super().__init__()
        widths = [cfg.base_channels * m for m in cfg.channel_mult]
        last = len(widths) - 1
        self.conv_in = nn.Conv2d(cfg.z_channels, widths[-1], 3, padding=1)
        self.mid = MidBlock(widths[-1], groups=cfg.groups, dropout=cfg.dropout)
        self.levels = nn.ModuleList(
            Level(
                widths[min(i + 1, last)],
                widths[i],
                num_blocks=cfg.num_res_blocks + 1,
                attn=i == last,
                resample=Upsample if i != 0 else None,
                groups=cfg.groups,
                dropout=cfg.dropout,
            )
            for i in range(len(widths))
        )
        self.norm_out = group_norm(widths[0], cfg.groups)
        self.patch = cfg.patch_size
        self.conv_out = nn.Conv2d(widths[0], 3 * self.patch**2, 3, padding=1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.mid(self.conv_in(z))
        for level in reversed(self.levels):
            h = level(h)
        out = self.conv_out(F.silu(self.norm_out(h)))
        if self.patch > 1:
            out = F.pixel_shuffle(out, self.patch)  # (B, 3 p², H/p, W/p) -> (B, 3, H, W)
        return out


@dataclass
class VQOutput:
    recon: torch.Tensor  # (B, 3, H, W), not clamped (the loss sees the raw output)
    codes: torch.Tensor  # (B, h, w)
    codebook_loss: torch.Tensor
    commitment_loss: torch.Tensor
    latents: torch.Tensor  # (B*h*w, D) detached, for dead-code restart


class VQTokenizer(nn.Module):
    def __init__(self, config: VQConfig):
        super().__init__()
        self.config = config
        self.encoder = PatchEncoder(config) if config.encoder == "patch" else Encoder(config)
        self.quant_proj = nn.Conv2d(config.z_channels, config.codebook_dim, 1)
        self.quantizer = VectorQuantizer(
            config.codebook_size, config.codebook_dim, l2_norm=config.l2_norm, beta=config.commitment_beta
        )
        self.post_quant_proj = nn.Conv2d(config.codebook_dim, config.z_channels, 1)
        self.decoder = Decoder(config)

    @property
    def downsample(self) -> int:
        return self.config.downsample

    @property
    def codebook_size(self) -> int:
        return self.config.codebook_size

    def grid_size(self, height: int, width: int) -> tuple[int, int]:
        """Code grid (h, w) for an image of ``height`` x ``width``; ValueError if not a multiple."""
        f = self.downsample
        if height <= 0 or width <= 0 or height % f or width % f:
            raise ValueError(
                f"image size {height}x{width} (height x width) is not a multiple of the tokenizer's "
                f"downsample factor {f}; use sizes like {f * max(1, height // f)}x{f * max(1, width // f)}"
            )
        return height // f, width // f

    def _check_images(self, images: torch.Tensor) -> None:
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"images must have shape (B, 3, H, W), got {tuple(images.shape)}")
        self.grid_size(images.shape[2], images.shape[3])

    def quantize(self, images: torch.Tensor, *, bypass: bool = False) -> QuantizerOutput:
        self._check_images(images)
        return self.quantizer(self.quant_proj(self.encoder(images)), bypass=bypass)

    def decode_latents(self, quantized: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.post_quant_proj(quantized.to(self.post_quant_proj.weight.dtype)))

    def forward(self, images: torch.Tensor, *, bypass_quantizer: bool = False) -> VQOutput:
        q = self.quantize(images, bypass=bypass_quantizer)
        return VQOutput(
            recon=self.decode_latents(q.quantized),
            codes=q.codes,
            codebook_loss=q.codebook_loss,
            commitment_loss=q.commitment_loss,
            latents=q.latents,
        )

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) images in [-1, 1] -> (B, H/f, W/f) long codes."""
        return self.quantize(images).codes

    @torch.no_grad()
    def decode(self, codes: torch.Tensor, *, tile: int | None = DECODE_TILE) -> torch.Tensor:
        """(B, h, w) codes -> (B, 3, h*f, w*f) images clamped to [-1, 1].

        Grids with a side past ``tile`` codes are decoded in tiles (``decode_tiled``); None: never."""
        if codes.ndim != 3 or codes.dtype not in (torch.int64, torch.int32, torch.int16, torch.uint8):
            raise ValueError(
                f"codes must be an integer tensor of shape (B, h, w), got {codes.dtype} {tuple(codes.shape)}"
            )
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= self.codebook_size):
            raise ValueError(
                f"codes must lie in [0, {self.codebook_size - 1}] (codebook_size {self.codebook_size}), "
                f"got values in [{int(codes.min())}, {int(codes.max())}]"
            )
        if tile is not None and max(codes.shape[1:]) > tile:
            return self.decode_tiled(codes, tile=tile, margin=DECODE_MARGIN)
        return self.decode_latents(self.quantizer.lookup(codes.long())).clamp(-1.0, 1.0)

    def decode_tiled(self, codes: torch.Tensor, *, tile: int, margin: int) -> torch.Tensor:
        """Decode (B, h, w) codes one ``tile`` x ``tile`` block at a time, each with ``margin`` codes of
        context on every side, so memory stays that of one tile.

        The decoder's attention and group norms see a tile, not the whole grid: at the sizes it was
        trained on, as at 512², rather than far past them (2048² is 16,384 positions of attention). Each
        tile's group norms have their own statistics, so two tiles render the same background a level or
        two apart: neighbouring tiles are blended across the 2 x ``margin`` codes they both decode, each
        weighted linearly from 1 to 0 towards its side of the band (the weights sum to one everywhere),
        so a step between tiles becomes a ramp as wide as the band instead of a seam."""
        B, h, w = codes.shape
        f = self.downsample
        out = torch.zeros(B, 3, h * f, w * f, device=codes.device)  # (B, 3, H, W)
        total = torch.zeros(h * f, w * f, device=codes.device)  # (H, W) weight landed on each pixel
        for top in range(0, h, tile):
            for left in range(0, w, tile):
                bottom, right = min(h, top + tile), min(w, left + tile)
                t0, l0 = max(0, top - margin), max(0, left - margin)
                t1, l1 = min(h, bottom + margin), min(w, right + margin)
                part = self.decode(codes[:, t0:t1, l0:l1], tile=None)  # (B, 3, (t1-t0) f, (l1-l0) f)
                wy = _blend_weights(t0 * f, t1 * f, lo=top * f if top > 0 else None,
                                    hi=bottom * f if bottom < h else None, band=margin * f, device=codes.device)
                wx = _blend_weights(l0 * f, l1 * f, lo=left * f if left > 0 else None,
                                    hi=right * f if right < w else None, band=margin * f, device=codes.device)
                weight = wy[:, None] * wx[None, :]  # (rows, cols)
                out[:, :, t0 * f : t1 * f, l0 * f : l1 * f] += part * weight
                total[t0 * f : t1 * f, l0 * f : l1 * f] += weight
        return out / total

    def save_pretrained(self, directory: str | os.PathLike, *, dtype: torch.dtype | None = None) -> Path:
        """Write config.json + model.safetensors into ``directory`` atomically; other files there stay.
        Floating tensors are cast to ``dtype`` when given (loading casts them back to fp32)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().contiguous().cpu() for k, v in cast_floating(self.state_dict(), dtype).items()}
        atomic_write(directory / WEIGHTS_NAME, lambda p: save_file(state, str(p), metadata={"format": "pt"}))
        atomic_write(directory / CONFIG_NAME, lambda p: Path(p).write_text(self.config.to_json() + "\n"))
        return directory

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, *, device: str | torch.device = "cpu") -> VQTokenizer:
        config, state = read_component(directory, what="--vq")
        model = cls(VQConfig.from_dict(config))
        load_state_strict(model, state, source=f"--vq {directory}")
        return model.to(device).eval()
