"""AdamW (fused where torch has the kernel: CPU and CUDA) and the warm-up + cosine learning-rate schedule."""

from __future__ import annotations

import math

import torch
from torch import nn

from tokenshuffle.train.config import TrainConfig


def lr_factor(step: int, *, warmup_steps: int, num_steps: int, min_lr_ratio: float) -> float:
    """Multiplier of the peak lr at optimiser step ``step``: linear warm-up, then cosine to min_lr_ratio."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, num_steps - warmup_steps))
    return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


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


def build_schedule(optimizer: torch.optim.Optimizer, cfg: TrainConfig) -> torch.optim.lr_scheduler.LambdaLR:
    def factor(step: int) -> float:
        return lr_factor(step, warmup_steps=cfg.warmup_steps, num_steps=cfg.num_steps, min_lr_ratio=cfg.min_lr_ratio)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
