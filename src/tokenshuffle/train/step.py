"""The training loss of TokenShuffleLM (loss only: no optimiser, no loop).

Cross-entropy over the image codes (each window's s² codes predicted from the previous position),
optional text loss on the prompt and the closing EOI, and z-loss (PaLM, Chowdhery et al., 2022:
weight * logsumexp(logits)², which keeps the softmax normaliser near 0 for stable high-resolution
training, paper Sec. 3.3), and an optional contrastive caption loss: for rows paired with a negative
caption (``data.caption_swaps``: the same words with two swapped), weight * softplus(margin - delta) / codes,
delta the image's log-likelihood under its caption minus under the negative (nats, summed over codes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from tokenshuffle.errors import check_range
from tokenshuffle.model.lm import TokenShuffleLM
from tokenshuffle.sequence import Batch, teacher_forced


@dataclass(frozen=True)
class LossConfig:
    z_loss_weight: float = 0.0
    text_loss_weight: float = 0.0
    contrast_weight: float = 0.0
    contrast_margin: float = 10.0  # nats per image
    # LMConfig.prompt_colours: weight of the cross-entropy of its colour guess against each coloured target
    # code's colour class (model.prompt_colours)
    colour_weight: float = 0.0

    def __post_init__(self) -> None:
        check_range("z_loss_weight", self.z_loss_weight, low=0)
        check_range("text_loss_weight", self.text_loss_weight, low=0)
        check_range("contrast_weight", self.contrast_weight, low=0)
        check_range("contrast_margin", self.contrast_margin, low=0)
        check_range("colour_weight", self.colour_weight, low=0)


def lm_loss(lm: TokenShuffleLM, batch: Batch, *, loss: LossConfig = LossConfig()) -> tuple[torch.Tensor, dict]:
    """Total loss and float metrics: image_ce (nats per image token), bits_per_token, z_loss, text_ce,
    with contrast_weight > 0 contrast (the weighted term) and contrast_delta (mean delta, nats), and with
    colour_weight > 0 colour_ce (nats per coloured code, the prompt-colour guess of ``LMConfig.prompt_colours``)."""
    hidden, logits, log_q = teacher_forced(lm, batch, colours=True)  # (B + K, P+N, D), (B + K, N, s², V)
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
    if loss.colour_weight > 0 and log_q is not None:
        target = lm.prompt_colours.code_class[batch.windows[:B]]  # (B, N, s²) colour class of each target code
        coloured = target < lm.prompt_colours.classes
        colour_ce = (F.nll_loss(log_q[:B][coloured].float(), target[coloured]) if coloured.any()
                     else log_q.sum() * 0)
        total = total + loss.colour_weight * colour_ce
        metrics["colour_ce"] = colour_ce.item()
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
