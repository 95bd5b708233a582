"""From data to training batches: code sources, deterministic sample order, caption dropout, tokenising.

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

from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from tokenshuffle.errors import check_choice, check_range

CAPTION_CHOICES = ("first", "any")  # the prompt only, or any of an item's phrasings


class CodeSource(Protocol):
    num_samples: int | None  # None: an unbounded stream of items indexed 0, 1, 2, ...

    def get(self, indices: list[int]) -> tuple[list[tuple[str, ...]], torch.Tensor]: ...


def first_captions(phrasings: list[tuple[str, ...]]) -> list[str]:
    """The GenEval prompt of each item (its first phrasing): what held-out scoring uses."""
    return [p[0] for p in phrasings]


class RandomCodes:
    """Uniformly random codes with a short caption: tests and benchmarks without a tokenizer."""

    def __init__(self, *, grid: tuple[int, int], vocab_size: int, seed: int = 0, num_samples: int | None = None):
        self.grid, self.vocab_size, self.seed, self.num_samples = grid, vocab_size, seed, num_samples

    def get(self, indices: list[int]) -> tuple[list[tuple[str, ...]], torch.Tensor]:
        codes = [torch.randint(0, self.vocab_size, self.grid, generator=torch.Generator().manual_seed(
            self.seed * 1_000_003 + i)) for i in indices]
        return [(f"item {i}", f"number {i}") for i in indices], torch.stack(codes)  # (B, h, w)


class SceneCodes:
    """Synthetic scenes rendered and VQ-encoded on the fly (small runs); finite sets are memoised.

    ``style`` names a ``data.scene_style.STYLES`` entry ("textured", "canonical" or "fixed").
    """

    def __init__(self, vq, *, height: int, width: int, seed: int = 0, num_samples: int | None = None,
                 style: str = "textured"):
        from tokenshuffle.data.scene_style import STYLES
        from tokenshuffle.data.scenes import SceneDataset

        check_choice("style", style, STYLES)
        self.scenes = SceneDataset(height=height, width=width, seed=seed, style=STYLES[style])
        self.vq, self.num_samples = vq, num_samples
        self.memo: dict[int, tuple[tuple[str, ...], torch.Tensor]] = {}

    @torch.no_grad()
    def get(self, indices: list[int]) -> tuple[list[tuple[str, ...]], torch.Tensor]:
        todo = [i for i in dict.fromkeys(indices) if i not in self.memo]
        fresh: dict[int, tuple[tuple[str, ...], torch.Tensor]] = {}
        if todo:
            items = [self.scenes.sample(i) for i in todo]
            images = torch.stack([it["image"] for it in items]).float() / 127.5 - 1  # (B, 3, H, W) in [-1, 1]
            device = next(self.vq.parameters()).device
            codes = self.vq.encode(images.to(device)).cpu()  # (B, h, w)
            fresh = {i: (tuple(it["captions"]), c) for i, it, c in zip(todo, items, codes, strict=True)}
            if self.num_samples:
                self.memo.update(fresh)
        pairs = [fresh[i] if i in fresh else self.memo[i] for i in indices]
        return [p[0] for p in pairs], torch.stack([p[1] for p in pairs])  # (B, h, w)


class ShardCodes:
    """Pre-encoded code shards (``tokenshuffle.data.codes.CodeShards``)."""

    def __init__(self, root: str):
        if not Path(root).is_dir():
            raise FileNotFoundError(f"data={root}: no such folder (expected code shards written by "
                                    "`tokenshuffle encode`, or 'random' / 'scenes')")
        from tokenshuffle.data.codes import CodeShards

        self.shards = CodeShards(root)
        self.num_samples = len(self.shards)
        # rows of each grid, when there are several (BatchStream then keeps each step within one)
        self.buckets = list(self.shards.buckets.values()) if len(self.shards.buckets) > 1 else None

    def get(self, indices: list[int]) -> tuple[list[tuple[str, ...]], torch.Tensor]:
        items = [self.shards[i] for i in indices]
        phrasings = [(it["caption"], *(c for c in it["captions"] if c != it["caption"])) for it in items]
        grids = {tuple(it["codes"].shape) for it in items}
        if len(grids) > 1:
            raise ValueError(f"{self.shards.root}: one batch asks for items of several grids {sorted(grids)}; read "
                             "a multi-size code set through BatchStream, which draws each step from one bucket")
        return phrasings, torch.stack([it["codes"] for it in items])


class BatchStream:
    """A run's sequence of samples: position k -> item ``order(k)``, caption dropped or not.

    A finite source is visited in a fresh permutation each epoch (seeded by (seed, epoch)).
    ``caption_choice`` "any" shows each sample with one of its item's phrasings, drawn from (seed,
    position), so an item seen in several epochs is seen with several captions; "first" always uses
    the prompt.
    """

    def __init__(self, source: CodeSource, *, tokenizer, seed: int, caption_dropout: float, position: int = 0,
                 caption_choice: str = "first"):
        check_range("caption_dropout", caption_dropout, low=0, high=1)
        check_choice("caption_choice", caption_choice, CAPTION_CHOICES)
        self.source, self.tokenizer, self.seed = source, tokenizer, seed
        self.caption_dropout = caption_dropout
        self.caption_choice = caption_choice
        self.position = position
        self._perm: tuple[int, np.ndarray] | None = None
        self._plan = None  # BucketPlan of a multi-bucket source, made for the global batch of next_step

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

            self._plan = BucketPlan(buckets, seed=self.seed, chunk=global_batch, offset=self.position % global_batch)
        start = self.position
        out = [self.batch_at(start + (m * world_size + rank) * micro, micro) for m in range(grad_accum)]
        self.position += global_batch
        return out
