"""Turning logits into codes: temperature, top-k, top-p (nucleus), drawn from an explicit generator."""

from __future__ import annotations

import torch


def filter_logits(logits: torch.Tensor, *, top_k: int | None, top_p: float | None) -> torch.Tensor:
    """(..., V) -> (..., V) with everything outside the top-k / top-p set at -inf."""
    if top_k is not None and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]  # (..., 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        probs = sorted_logits.softmax(dim=-1)
        # Drop a token when the mass before it already reaches top_p; the first token always stays.
        drop = probs.cumsum(dim=-1) - probs >= top_p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.empty_like(logits).scatter_(-1, order, sorted_logits)
    return logits


def sample_logits(
    logits: torch.Tensor,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """(..., V) logits -> (...) sampled ids; temperature 0 is greedy (argmax)."""
    if temperature == 0:
        return logits.argmax(dim=-1)
    logits, index = logits.float() / temperature, None
    if top_k is not None and top_k < logits.shape[-1]:
        # Draw among the k largest only: the distribution of masking the rest to -inf (exactly k kept
        # where the k-th logit ties), with k exponentials per draw instead of V (torch's multinomial draws
        # one per category: at V = 16,384 a third of a millisecond per code on a 2-core CPU).
        logits, index = torch.topk(logits, top_k, dim=-1)  # (..., k) descending, their ids
    probs = filter_logits(logits, top_k=None, top_p=top_p).softmax(dim=-1)
    flat = probs.reshape(-1, probs.shape[-1])  # (rows, V or k)
    ids = torch.multinomial(flat, 1, generator=generator)  # (rows, 1)
    if index is not None:
        ids = index.reshape(flat.shape).gather(1, ids)  # positions among the k -> ids
    return ids.reshape(probs.shape[:-1])
