"""The training loss of TokenShuffleLM (loss only: no optimiser, no loop).

Cross-entropy over the image codes (each window's s² codes predicted from the previous position),
optional text loss on the prompt and the closing EOI, and z-loss (PaLM, Chowdhery et al., 2022:
weight * logsumexp(logits)², which keeps the softmax normaliser near 0 for stable high-resolution
training, paper Sec. 3.3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from tokenshuffle.errors import check_range
from tokenshuffle.model.lm import TokenShuffleLM
from tokenshuffle.ops import codes_to_windows
from tokenshuffle.sequence import build_prefix


@dataclass(frozen=True)
class LossConfig:
    z_loss_weight: float = 0.0
    text_loss_weight: float = 0.0

    def __post_init__(self) -> None:
        check_range("z_loss_weight", self.z_loss_weight, low=0)
        check_range("text_loss_weight", self.text_loss_weight, low=0)


@dataclass(frozen=True)
class Batch:
    prefix: torch.Tensor  # (B, P) left-padded [BOS] text [SOI] <h> <w>
    valid: torch.Tensor  # (B, P) False at padding
    windows: torch.Tensor  # (B, N, s²) image codes grouped by window

    def to(self, device) -> Batch:
        return Batch(self.prefix.to(device), self.valid.to(device), self.windows.to(device))


def make_batch(texts: list[list[int]], codes: torch.Tensor, *, lm: TokenShuffleLM) -> Batch:
    """Tokenised captions and (B, h, w) codes -> a training batch (one grid size per batch)."""
    B, h, w = codes.shape
    prefix, valid = build_prefix(texts, grid=(h, w), config=lm.config)
    return Batch(prefix, valid, codes_to_windows(codes, s=lm.s))


def teacher_forced(lm: TokenShuffleLM, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """One forward pass over prefix and codes -> hidden (B, P+N, D) and fp32 image logits (B, N, s², V),
    window n's logits read at the position before it."""
    prefix, windows = batch.prefix, batch.windows
    B, P = prefix.shape
    N = windows.shape[1]
    valid = torch.cat([batch.valid, batch.valid.new_ones(B, N)], dim=1)  # (B, P+N)
    input_pos = torch.arange(P + N, device=prefix.device)
    hidden = lm(prefix, windows, input_pos=input_pos, valid=valid)  # (B, P+N, D)
    return hidden, lm.image_logits(hidden[:, P - 1 : P - 1 + N], codes=windows).float()


def lm_loss(lm: TokenShuffleLM, batch: Batch, *, loss: LossConfig = LossConfig()) -> tuple[torch.Tensor, dict]:
    """Total loss and float metrics: image_ce (nats per image token), bits_per_token, z_loss, text_ce."""
    prefix, windows = batch.prefix, batch.windows
    B, P = prefix.shape
    hidden, logits = teacher_forced(lm, batch)  # (B, P+N, D), (B, N, s², V)
    image_ce = F.cross_entropy(logits.flatten(0, 2), windows.flatten())
    total = image_ce
    metrics = {"image_ce": image_ce.item(), "bits_per_token": image_ce.item() / math.log(2)}
    if loss.z_loss_weight > 0:
        z = logits.logsumexp(dim=-1).pow(2).mean()
        total = total + loss.z_loss_weight * z
        metrics["z_loss"] = z.item()
    if loss.text_loss_weight > 0:
        # Prompt tokens predict the next prompt token; the last image position predicts EOI.
        text_logits = lm.text_logits(torch.cat([hidden[:, : P - 1], hidden[:, -1:]], dim=1)).float()
        eoi = prefix.new_full((B, 1), lm.config.eoi_id)
        targets = torch.cat([prefix[:, 1:], eoi], dim=1)  # (B, P)
        keep = torch.cat([batch.valid[:, :-1] & batch.valid[:, 1:], batch.valid.new_ones(B, 1)], dim=1)
        text_ce = F.cross_entropy(text_logits[keep], targets[keep])
        total = total + loss.text_loss_weight * text_ce
        metrics["text_ce"] = text_ce.item()
    metrics["loss"] = total.item()
    return total, metrics
