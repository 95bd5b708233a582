"""The training loss of TokenShuffleLM (loss only: no optimiser, no loop).

Cross-entropy over the image codes (each window's s² codes predicted from the previous position),
optional text loss on the prompt and the closing EOI, and z-loss (PaLM, Chowdhery et al., 2022:
weight * logsumexp(logits)², which keeps the softmax normaliser near 0 for stable high-resolution
training, paper Sec. 3.3), and an optional contrastive caption loss: for rows paired with a negative
caption (``train.contrast``: the same words with two swapped), weight * softplus(margin - delta) / codes,
delta the image's log-likelihood under its caption minus under the negative (nats, summed over codes).
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
    contrast_weight: float = 0.0
    contrast_margin: float = 10.0  # nats per image

    def __post_init__(self) -> None:
        check_range("z_loss_weight", self.z_loss_weight, low=0)
        check_range("text_loss_weight", self.text_loss_weight, low=0)
        check_range("contrast_weight", self.contrast_weight, low=0)
        check_range("contrast_margin", self.contrast_margin, low=0)


@dataclass(frozen=True)
class Batch:
    prefix: torch.Tensor  # (B, P) left-padded [BOS] text [SOI] <h> <w>
    valid: torch.Tensor  # (B, P) False at padding
    windows: torch.Tensor  # (B, N, s²) image codes grouped by window
    # (K, 2) rows (caption, negative caption) of the same codes; negative rows come after the first
    # ``len(batch) - K`` rows and take no cross-entropy. None: no negatives.
    pairs: torch.Tensor | None = None

    def to(self, device) -> Batch:
        pairs = None if self.pairs is None else self.pairs.to(device)
        return Batch(self.prefix.to(device), self.valid.to(device), self.windows.to(device), pairs)


def make_batch(texts: list[list[int]], codes: torch.Tensor, *, lm: TokenShuffleLM,
               negatives: list[list[int] | None] | None = None) -> Batch:
    """Tokenised captions and (B, h, w) codes -> a training batch (one grid size per batch).

    ``negatives`` (one per caption, None where there is none) appends a row for each negative with
    the same codes, paired with its caption's row in ``Batch.pairs``.
    """
    B, h, w = codes.shape
    pairs = None
    if negatives is not None:
        if len(negatives) != B:
            raise ValueError(f"{len(negatives)} negatives for {B} captions")
        keep = [i for i, n in enumerate(negatives) if n is not None]
        texts = list(texts) + [negatives[i] for i in keep]
        codes = torch.cat([codes, codes[keep]])  # (B + K, h, w)
        pairs = torch.tensor([[i, B + k] for k, i in enumerate(keep)], dtype=torch.long).view(-1, 2)
    prefix, valid = build_prefix(texts, grid=(h, w), config=lm.config)
    return Batch(prefix, valid, codes_to_windows(codes, s=lm.s), pairs)


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
    """Total loss and float metrics: image_ce (nats per image token), bits_per_token, z_loss, text_ce,
    and with contrast_weight > 0 contrast (the weighted term) and contrast_delta (mean delta, nats)."""
    hidden, logits = teacher_forced(lm, batch)  # (B + K, P+N, D), (B + K, N, s², V)
    K = 0 if batch.pairs is None else batch.pairs.shape[0]
    B = batch.prefix.shape[0] - K  # rows with their own caption; the last K hold negatives
    nll = F.cross_entropy(logits.flatten(0, 2), batch.windows.flatten(), reduction="none")  # ((B+K)·N·s²,)
    nll = nll.view(B + K, -1)  # (B + K, N·s²)
    hidden, logits = hidden[:B], logits[:B]
    prefix, valid = batch.prefix[:B], batch.valid[:B]
    P = prefix.shape[1]
    image_ce = nll[:B].mean()
    total = image_ce
    metrics = {"image_ce": image_ce.item(), "bits_per_token": image_ce.item() / math.log(2)}
    if loss.contrast_weight > 0:
        metrics["contrast"] = metrics["contrast_delta"] = 0.0
        if K:
            delta = nll[B:].sum(dim=1) - nll[batch.pairs[:, 0]].sum(dim=1)  # (K,) nats
            term = loss.contrast_weight * F.softplus(loss.contrast_margin - delta).mean() / nll.shape[1]
            total = total + term
            metrics["contrast"], metrics["contrast_delta"] = term.item(), delta.mean().item()
    if loss.z_loss_weight > 0:
        z = logits.logsumexp(dim=-1).pow(2).mean()
        total = total + loss.z_loss_weight * z
        metrics["z_loss"] = z.item()
    if loss.text_loss_weight > 0:
        # Prompt tokens predict the next prompt token; the last image position predicts EOI.
        text_logits = lm.text_logits(torch.cat([hidden[:, : P - 1], hidden[:, -1:]], dim=1)).float()
        eoi = prefix.new_full((B, 1), lm.config.eoi_id)
        targets = torch.cat([prefix[:, 1:], eoi], dim=1)  # (B, P)
        keep = torch.cat([valid[:, :-1] & valid[:, 1:], valid.new_ones(B, 1)], dim=1)
        text_ce = F.cross_entropy(text_logits[keep], targets[keep])
        total = total + loss.text_loss_weight * text_ce
        metrics["text_ce"] = text_ce.item()
    metrics["loss"] = total.item()
    return total, metrics
