"""One size bucket per optimiser step: which item sits at each position of a multi-bucket code set.

An epoch is cut into chunks of ``chunk`` positions (the global batch): bucket j, with n_j items and
weight w_j (default 1), gets ceil(w_j n_j / chunk) chunks holding a fresh permutation of its items
(filled up by wrapping round that permutation, so a weight of 2 shows each item twice), and the chunks
of all buckets are shuffled together. So every step draws from one bucket, buckets come up in
proportion to their weighted size, each epoch shows every item at least once (a weight below 1 shows
only the first part of the bucket's permutation, a weight of 0 none of it), and the item at a position
depends only on (seed, position, chunk, weights): resume stays exact.
``offset`` aligns the chunks to the run's position when the plan is made (a run resumed with another
batch size), so a step never straddles two chunks.
"""

from __future__ import annotations

import numpy as np


class BucketPlan:
    def __init__(self, buckets: list[np.ndarray], *, seed: int, chunk: int, offset: int = 0,
                 weights: list[float] | None = None):
        self.buckets, self.seed, self.chunk, self.offset = [np.asarray(b) for b in buckets], seed, chunk, offset
        weights = [1.0] * len(self.buckets) if weights is None else weights
        if len(weights) != len(self.buckets) or any(w < 0 for w in weights) or not any(w > 0 for w in weights):
            raise ValueError(f"bucket weights {weights} must be one number >= 0 per bucket ({len(self.buckets)}), "
                             "one of them > 0")
        self.num_chunks = [max(1, -(-round(w * len(b)) // chunk)) if w > 0 else 0
                           for b, w in zip(self.buckets, weights, strict=True)]
        self.epoch_len = chunk * sum(self.num_chunks)
        self._epoch: tuple[int, list[np.ndarray], np.ndarray] | None = None

    def _plan(self, epoch: int) -> tuple[list[np.ndarray], np.ndarray]:
        if self._epoch is None or self._epoch[0] != epoch:
            filled = []
            for j, (b, c) in enumerate(zip(self.buckets, self.num_chunks, strict=True)):
                perm = np.random.default_rng([self.seed, epoch, j, 31]).permutation(len(b))
                filled.append(b[np.resize(perm, c * self.chunk)])  # wraps round to fill the last chunk
            owners = np.repeat(np.arange(len(self.buckets)), self.num_chunks)  # (total chunks,) bucket of each
            firsts = np.concatenate([np.arange(c) for c in self.num_chunks])  # chunk number within its bucket
            order = np.random.default_rng([self.seed, epoch, 37]).permutation(len(owners))
            self._epoch = (epoch, filled, np.stack([owners[order], firsts[order]], axis=1))  # (total chunks, 2)
        return self._epoch[1], self._epoch[2]

    def item(self, k: int) -> int:
        epoch, r = divmod(k - self.offset, self.epoch_len)
        filled, chunks = self._plan(epoch)
        bucket, number = chunks[r // self.chunk]
        return int(filled[bucket][number * self.chunk + r % self.chunk])
