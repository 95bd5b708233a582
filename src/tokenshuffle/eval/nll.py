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
from tokenshuffle.model.shuffle import codes_to_windows
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


def _groups(source: CodeSource, num: int) -> list[tuple[str | None, list[int]]]:
    """The items to score, one group per size: all of ``range(num)``, or for a multi-size code set the
    first ``ceil(num / buckets)`` rows of each bucket, named ``HxW`` (its code grid)."""
    buckets = getattr(source, "buckets", None)
    if not buckets:
        return [(None, list(range(num)))]
    per = -(-num // len(buckets))
    return [(f"{h}x{w}", [int(i) for i in rows[:per]]) for (h, w), rows in zip(source.bucket_grids, buckets,
                                                                                     strict=True)]


def _items(source: CodeSource, rows: list[int], at: slice, mode: str) -> tuple[list[str], torch.Tensor]:
    """(prompts, codes) of ``rows[at]``; the prompts per ``mode`` (see ``CAPTIONS``).

    ``"shuffled"`` gives each row the caption of the next row of ``rows`` (the last one the first's),
    read in the same ``get`` as the batch.
    """
    indices = rows[at]
    if mode == "shuffled" and len(rows) > 1:
        phrasings, codes = source.get(indices + [rows[at.stop % len(rows)]])
        return first_captions(phrasings)[1:], codes[:-1]
    phrasings, codes = source.get(indices)
    return (first_captions(phrasings) if mode == "given" else [""] * len(indices)), codes


def image_ce(lm: TokenShuffleLM, batch: Batch) -> float:
    """Mean cross-entropy (nats) of every image code of ``batch`` under teacher forcing (lm_loss's image_ce)."""
    return code_ce(lm, batch).mean().item()


def code_ce(lm: TokenShuffleLM, batch: Batch) -> torch.Tensor:
    """(B, N, s²) cross-entropy (nats) of each image code of ``batch`` under teacher forcing."""
    _, logits = teacher_forced(lm, batch)  # (B, N, s², V)
    return F.cross_entropy(logits.flatten(0, 2), batch.windows.flatten(), reduction="none").view(batch.windows.shape)


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
    """-> {"bits_per_token", "image_ce", "num_samples", "num_tokens"} over the first items of ``source``;
    a multi-size set scores ``num_samples`` split evenly over its sizes and adds ``bits_per_token_by_grid``;
    a source with ``object_mask`` (``PromptSceneCodes``) adds ``bits_per_object_token`` and
    ``bits_per_background_token`` and their token counts.

    ``forward`` (Batch -> (loss, metrics)) lets a training loop score through its DDP/FSDP wrapper.
    """
    num = min(config.num_samples, source.num_samples or config.num_samples)
    split = forward is None and hasattr(source, "object_mask")
    forward = forward or (lambda b: (None, {"image_ce": image_ce(lm, b)}))
    device = lm.output.weight.device
    was_training = lm.training
    lm.eval()
    groups = _groups(source, num)
    per_size: dict[str | None, tuple[float, int]] = {}  # size name -> (summed CE, tokens)
    parts = {"object": [0.0, 0], "background": [0.0, 0]}  # summed CE and tokens of object / background codes
    try:
        for name, rows in groups:
            total_ce, total_tokens = 0.0, 0
            for start in range(0, len(rows), config.batch_size):
                at = slice(start, min(len(rows), start + config.batch_size))
                captions, codes = _items(source, rows, at, config.captions)
                batch = make_batch([tokenizer.encode(c) for c in captions], codes, lm=lm).to(device)
                with torch.autocast(device.type, dtype=autocast_dtype or torch.float32,
                                    enabled=autocast_dtype is not None):
                    if split:
                        ce = code_ce(lm, batch)  # (B, N, s²)
                        on = codes_to_windows(source.object_mask(rows[at]), s=lm.at(codes.shape[1:]).s).to(ce.device)
                        for part, m in (("object", on), ("background", ~on)):
                            parts[part][0] += ce[m].sum().item()
                            parts[part][1] += int(m.sum())
                        metrics = {"image_ce": ce.mean().item()}
                    else:
                        _, metrics = forward(batch)
                total_ce += metrics["image_ce"] * codes.numel()
                total_tokens += codes.numel()
            per_size[name] = (total_ce, total_tokens)
    finally:
        lm.train(was_training)
    total_tokens = sum(t for _, t in per_size.values())
    ce = sum(c for c, _ in per_size.values()) / total_tokens
    out = {"bits_per_token": ce / math.log(2), "image_ce": ce, "num_samples": sum(len(r) for _, r in groups),
           "num_tokens": total_tokens}
    if None not in per_size:  # a multi-size set: bits per code of each size too
        out["bits_per_token_by_grid"] = {name: c / t / math.log(2) for name, (c, t) in per_size.items()}
    if split:
        for name, (c, t) in parts.items():
            out[f"bits_per_{name}_token"] = c / t / math.log(2) if t else math.nan
            out[f"num_{name}_tokens"] = t
    return out


@torch.no_grad()
def swap_gap(lm: TokenShuffleLM, source: CodeSource, *, tokenizer, rules: SwapNegatives,
             config: NLLConfig = NLLConfig()) -> dict:
    """-> {rule name: {"num", "delta" (mean nats per image), "positive" (fraction with delta > 0)}} over the
    first ``config.num_samples`` items (split evenly over the sizes of a multi-size set) whose caption
    (the prompt) has a negative under ``rules``."""
    num = min(config.num_samples, source.num_samples or config.num_samples)
    deltas: dict[str, list[float]] = {name: [] for name in rules.names}
    was_training = lm.training
    lm.eval()
    try:
        batches = [rows[i:i + config.batch_size] for _, rows in _groups(source, num)
                   for i in range(0, len(rows), config.batch_size)]
        for indices in batches:
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
