"""AdamW (fused where torch has the kernel: CPU and CUDA) and its per-step settings.

The learning rate is ``schedules.warmup_cosine_lr`` of the step and the current config, set before
every step, and betas and weight decay are set from the config after a resume: a resumed run follows
its current settings, never ones restored from the checkpoint (see ``run_folder``).
"""

from __future__ import annotations

import torch
from torch import nn

from tokenshuffle.schedules import warmup_cosine_lr
from tokenshuffle.train.config import TrainConfig


def param_groups(model: nn.Module, *, weight_decay: float) -> list[dict]:
    """Decay matrices (linear and embedding weights) only; norms' gains and biases are left alone, as
    in LLaMA/GPT training (decaying a gain towards 0 only fights the normalisation)."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


FUSED_DEVICES = ("cpu", "cuda")


def adamw(groups: list[dict], **kwargs) -> torch.optim.AdamW:
    """AdamW with torch's fused kernel when every parameter is a float tensor on a device that has it.

    On a 2-core CPU the fused step of a GPT-B-sized model takes about a quarter of the default's time
    (``tokenshuffle bench train`` counts the optimizer step).
    """
    params = [p for g in groups for p in g["params"]]
    fused = all(p.device.type in FUSED_DEVICES and p.is_floating_point() for p in params)
    return torch.optim.AdamW(groups, fused=fused or None, **kwargs)


def build_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.AdamW:
    groups = param_groups(model, weight_decay=cfg.weight_decay)
    return adamw(groups, lr=cfg.lr, betas=cfg.betas)


def lr_at(step: int, cfg: TrainConfig) -> float:
    return warmup_cosine_lr(step, peak=cfg.lr, warmup_steps=cfg.warmup_steps, num_steps=cfg.num_steps,
                            min_lr_ratio=cfg.min_lr_ratio)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def apply_settings(optimizer: torch.optim.Optimizer, cfg: TrainConfig) -> None:
    """Betas and weight decay from ``cfg`` (after loading a checkpoint's optimiser state, which carries
    the values it was saved with). Groups are ``param_groups``' order: decayed first."""
    for group, decay in zip(optimizer.param_groups, (cfg.weight_decay, 0.0), strict=True):
        group["betas"] = cfg.betas
        group["weight_decay"] = decay
