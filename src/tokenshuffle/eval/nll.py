"""Held-out negative log-likelihood in bits per image token (``tokenshuffle eval nll``).

Every held-out item is scored once with its caption (no dropout); the figure is the mean over all
image tokens, so it is comparable across shuffle windows (each window's s² codes are all counted).
``captions="empty"`` scores the same codes with the empty prompt, ``"shuffled"`` with the next item's
caption: the gap to ``"given"`` is how many bits per token the model takes from its prompt.
``swap_gap`` asks whether it reads the prompt's word order: for every item whose caption has a
swapped-word negative (``data.caption_swaps``), delta = log p(codes | caption) - log p(codes | negative).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from tokenshuffle.data.caption_swaps import SwapNegatives
from tokenshuffle.data.code_sources import CodeSource, first_captions
from tokenshuffle.errors import check_choice, check_range
from tokenshuffle.model.lm import TokenShuffleLM
from tokenshuffle.sampling.rerank import code_loglik
from tokenshuffle.sequence import Batch, make_batch, teacher_forced

CAPTIONS = ("given", "empty", "shuffled")


@dataclass(frozen=True)
class NLLConfig:
    num_samples: int = 256
    batch_size: int = 16
    captions: str = "given"  # one of CAPTIONS

    def __post_init__(self) -> None:
        check_range("num_samples", self.num_samples, low=1)
        check_range("batch_size", self.batch_size, low=1)
        check_choice("captions", self.captions, CAPTIONS)


def _items(source: CodeSource, indices: list[int], num: int, mode: str) -> tuple[list[str], torch.Tensor]:
    """(prompts, codes) of the contiguous ``indices``; the prompts per ``mode`` (see ``CAPTIONS``).

    ``"shuffled"`` gives item i the caption of item (i+1) % num, read in the same ``get`` as the batch.
    """
    if mode == "shuffled" and num > 1:
        phrasings, codes = source.get(indices + [(indices[-1] + 1) % num])
        return first_captions(phrasings)[1:], codes[:-1]
    phrasings, codes = source.get(indices)
    return (first_captions(phrasings) if mode == "given" else [""] * len(indices)), codes


def image_ce(lm: TokenShuffleLM, batch: Batch) -> float:
    """Mean cross-entropy (nats) of every image code of ``batch`` under teacher forcing (lm_loss's image_ce)."""
    _, logits = teacher_forced(lm, batch)  # (B, N, s², V)
    return F.cross_entropy(logits.flatten(0, 2), batch.windows.flatten()).item()


@torch.no_grad()
def heldout_nll(
    lm: TokenShuffleLM,
    source: CodeSource,
    *,
    tokenizer,
    config: NLLConfig = NLLConfig(),
    forward: Callable[[Batch], tuple[torch.Tensor, dict]] | None = None,
    autocast_dtype: torch.dtype | None = None,
) -> dict:
    """-> {"bits_per_token", "image_ce", "num_samples", "num_tokens"} over the first items of ``source``.

    ``forward`` (Batch -> (loss, metrics)) lets a training loop score through its DDP/FSDP wrapper.
    """
    num = min(config.num_samples, source.num_samples or config.num_samples)
    forward = forward or (lambda b: (None, {"image_ce": image_ce(lm, b)}))
    device = lm.output.weight.device
    was_training = lm.training
    lm.eval()
    total_ce, total_tokens = 0.0, 0
    try:
        for start in range(0, num, config.batch_size):
            indices = list(range(start, min(num, start + config.batch_size)))
            captions, codes = _items(source, indices, num, config.captions)
            batch = make_batch([tokenizer.encode(c) for c in captions], codes, lm=lm).to(device)
            with torch.autocast(device.type, dtype=autocast_dtype or torch.float32,
                                enabled=autocast_dtype is not None):
                _, metrics = forward(batch)
            tokens = codes.numel()
            total_ce += metrics["image_ce"] * tokens
            total_tokens += tokens
    finally:
        lm.train(was_training)
    ce = total_ce / total_tokens
    return {"bits_per_token": ce / math.log(2), "image_ce": ce, "num_samples": num, "num_tokens": total_tokens}


@torch.no_grad()
def swap_gap(lm: TokenShuffleLM, source: CodeSource, *, tokenizer, rules: SwapNegatives,
             config: NLLConfig = NLLConfig()) -> dict:
    """-> {rule name: {"num", "delta" (mean nats per image), "positive" (fraction with delta > 0)}} over the
    first ``config.num_samples`` items whose caption (the prompt) has a negative under ``rules``."""
    num = min(config.num_samples, source.num_samples or config.num_samples)
    deltas: dict[str, list[float]] = {name: [] for name in rules.names}
    was_training = lm.training
    lm.eval()
    try:
        for start in range(0, num, config.batch_size):
            indices = list(range(start, min(num, start + config.batch_size)))
            phrasings, codes = source.get(indices)
            found = [(i, rules.swap(tokenizer.encode(c))) for i, c in enumerate(first_captions(phrasings))]
            found = [(i, f, tokenizer.encode(first_captions(phrasings)[i])) for i, f in found if f is not None]
            if not found:
                continue
            rows = codes[[i for i, _, _ in found]]
            gap = (code_loglik(lm, [t for _, _, t in found], rows)
                   - code_loglik(lm, [f[1] for _, f, _ in found], rows))  # (K,) nats
            for (_, (name, _), _), d in zip(found, gap.tolist(), strict=True):
                deltas[name].append(d)
    finally:
        lm.train(was_training)
    return {name: {"num": len(v), "delta": sum(v) / len(v) if v else math.nan,
                   "positive": sum(d > 0 for d in v) / len(v) if v else math.nan} for name, v in deltas.items()}
