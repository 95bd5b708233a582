"""From code sources (``data.code_sources``) to training batches: deterministic sample order, caption
dropout, tokenising.

The loop reads a ``CodeSource`` (anything with ``num_samples`` and ``get(indices) -> (phrasings, codes
(B, h, w))``, where each item's phrasings are its captions, the GenEval prompt first) through a
``BatchStream``. The stream's only state is ``position``: the number of samples the run has consumed,
all ranks together. Which item sits at a position, which of its phrasings it is shown with, and
whether that caption is dropped depend only on (seed, position), so saving ``position`` makes resume
exact and every rank can compute its own share of a global batch without talking to the others.
A source whose items come in several grids (``buckets``: code shards encoded with ``--buckets``) is read
one bucket per optimiser step (``train.buckets.BucketPlan``).
"""

from __future__ import annotations

import numpy as np
import torch

from tokenshuffle.data.code_sources import CodeSource
from tokenshuffle.errors import check_choice, check_range

CAPTION_CHOICES = ("first", "any")  # the prompt only, or any of an item's phrasings


class BatchStream:
    """A run's sequence of samples: position k -> item ``order(k)``, caption dropped or not.

    A finite source is visited in a fresh permutation each epoch (seeded by (seed, epoch)).
    ``caption_choice`` "any" shows each sample with one of its item's phrasings, drawn from (seed,
    position), so an item seen in several epochs is seen with several captions; "first" always uses
    the prompt.
    """

    def __init__(self, source: CodeSource, *, tokenizer, seed: int, caption_dropout: float, position: int = 0,
                 caption_choice: str = "first", bucket_weights: dict[tuple[int, int], float] | None = None):
        check_range("caption_dropout", caption_dropout, low=0, high=1)
        check_choice("caption_choice", caption_choice, CAPTION_CHOICES)
        self.source, self.tokenizer, self.seed = source, tokenizer, seed
        self.caption_dropout = caption_dropout
        self.caption_choice = caption_choice
        self.position = position
        self._perm: tuple[int, np.ndarray] | None = None
        self._plan = None  # BucketPlan of a multi-bucket source, made for the global batch of next_step
        self.bucket_weights = dict(bucket_weights or {})  # code grid (h, w) -> weight; others weigh 1
        grids = getattr(source, "bucket_grids", None) if getattr(source, "buckets", None) else None
        unknown = sorted(set(self.bucket_weights) - set(grids or []))
        if unknown:
            have = ", ".join(f"{h}x{w}" for h, w in grids or []) or "none (one grid)"
            raise ValueError(f"bucket_weights names code grids {', '.join(f'{h}x{w}' for h, w in unknown)} that "
                             f"the data does not have; its grids (height x width in codes): {have}")

    def item(self, k: int) -> int:
        if self._plan is not None:
            return self._plan.item(k)
        n = self.source.num_samples
        if not n:
            return k
        epoch = k // n
        if self._perm is None or self._perm[0] != epoch:
            self._perm = (epoch, np.random.default_rng([self.seed, epoch]).permutation(n))
        return int(self._perm[1][k % n])

    def dropped(self, k: int) -> bool:
        return bool(np.random.default_rng([self.seed, k, 17]).random() < self.caption_dropout)

    def caption(self, k: int, phrasings: tuple[str, ...]) -> str:
        if self.caption_choice == "first" or len(phrasings) == 1:
            return phrasings[0]
        return phrasings[int(np.random.default_rng([self.seed, k, 23]).integers(len(phrasings)))]

    def batch_at(self, start: int, count: int) -> tuple[list[list[int]], torch.Tensor]:
        """Tokenised captions and codes (count, h, w) of positions [start, start + count)."""
        positions = range(start, start + count)
        phrasings, codes = self.source.get([self.item(k) for k in positions])
        captions = [self.caption(k, p) for k, p in zip(positions, phrasings, strict=True)]
        # A dropped caption becomes the empty prompt: exactly the unconditional branch used by CFG.
        texts = [[] if self.dropped(k) else self.tokenizer.encode(c) for k, c in zip(positions, captions, strict=True)]
        return texts, codes

    def next_step(self, *, global_batch: int, grad_accum: int, rank: int, world_size: int):
        """This rank's micro-batches of the next optimiser step; advances ``position`` by the global batch.

        Micro-step m of rank r covers positions start + (m * world + r) * b + [0, b), b the micro size.
        """
        micro = global_batch // (grad_accum * world_size)
        if micro * grad_accum * world_size != global_batch:
            raise ValueError(f"batch_size={global_batch} must be divisible by grad_accum*world_size="
                             f"{grad_accum * world_size}")
        buckets = getattr(self.source, "buckets", None)
        if buckets and (self._plan is None or self._plan.chunk != global_batch):
            from tokenshuffle.train.buckets import BucketPlan

            weights = [self.bucket_weights.get(tuple(g), 1.0) for g in self.source.bucket_grids]
            self._plan = BucketPlan(buckets, seed=self.seed, chunk=global_batch, offset=self.position % global_batch,
                                    weights=weights)
        start = self.position
        out = [self.batch_at(start + (m * world_size + rank) * micro, micro) for m in range(grad_accum)]
        self.position += global_batch
        return out
