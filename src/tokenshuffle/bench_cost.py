"""What a decode step must cost: the machine's measured read bandwidth, the bytes a step reads, the KV
cache it allocates, and the peak memory of one benchmark cell.

A decode step of a batch-1 (or CFG batch-2) transformer does little arithmetic per byte: its time is
bounded below by reading every weight it multiplies by plus the cached keys and values it attends
over. ``bench generate`` prints that bound beside each measured ms/step, so a row's ratio to it says
how much is left to win (overheads, poor kernels) on this machine, whatever the machine is. The
bandwidth is measured again around every cell (a shared VM's moves by half within minutes).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import torch

from tokenshuffle.model.lm import TokenShuffleLM

BANDWIDTH_BYTES = 1 << 29  # 512 MiB: far past any cache, small beside the 24 GiB the benches assume


def read_bandwidth(device: torch.device, *, repeats: int = 5) -> float:
    """Bytes/s of reading a large tensor once (its sum), the best of ``repeats``; a decode step's weights
    are read once each, the same access."""
    x = torch.ones(BANDWIDTH_BYTES // 4, dtype=torch.float32, device=device)
    best = float("inf")
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        x.sum()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - start)
    del x
    return BANDWIDTH_BYTES / best


def weight_bytes_per_step(lm: TokenShuffleLM) -> int:
    """Bytes of weights one decode step reads: every parameter but the embedding table (only s² rows of
    it are gathered) and the output layer's text rows (only the image rows make logits)."""
    total = sum(p.numel() * p.element_size() for p in lm.parameters())
    emb = lm.tok_embeddings.weight
    out = lm.output.weight
    unread = emb.numel() * emb.element_size() + lm.config.image_offset * out.shape[1] * out.element_size()
    return total - unread


def kv_cache_bytes(lm: TokenShuffleLM, *, rows: int, positions: int, dtype: torch.dtype) -> int:
    """2 (K and V) x layers x positions x kv dim x bytes x rows: the static cache ``setup_cache`` allocates."""
    cfg = lm.config
    kv_dim = cfg.kv_heads * (cfg.dim // cfg.num_heads)
    return 2 * cfg.num_layers * positions * kv_dim * torch.finfo(dtype).bits // 8 * rows


def allocated_kv_bytes(lm: TokenShuffleLM, *, rows: int, positions: int, dtype: torch.dtype) -> int:
    """What ``setup_cache`` really allocates for K and V (checked against ``kv_cache_bytes``)."""
    lm.setup_cache(batch=rows, max_len=positions, dtype=dtype)
    try:
        caches = [layer.attention.cache for layer in lm.decoder.layers]
        return sum(t.numel() * t.element_size() for c in caches for t in (c.k, c.v))
    finally:
        lm.clear_cache()


def mean_kv_read_bytes(lm: TokenShuffleLM, *, rows: int, prefix: int, num_steps: int, cache_positions: int,
                       dtype: torch.dtype, whole_cache: bool) -> float:
    """Average K/V bytes a step reads: the filled prefix (eager CPU) or the whole static cache."""
    mean_positions = cache_positions if whole_cache else prefix + num_steps / 2
    return kv_cache_bytes(lm, rows=rows, positions=1, dtype=dtype) * mean_positions


def _rss_bytes() -> int:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    import resource

    return pages * resource.getpagesize()


class PeakMemory:
    """Peak memory of one block of work: CUDA's allocator peak, or on CPU the process's resident set
    sampled every ``interval`` seconds in a thread (so each benchmark cell gets its own peak, not the
    process's lifetime maximum; it includes the interpreter and torch, about 0.3 GB)."""

    def __init__(self, device: torch.device, *, interval: float = 0.01) -> None:
        self.device, self.interval = device, interval
        self.peak = 0
        self._stop = threading.Event()

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_bytes())
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        else:
            self.peak = _rss_bytes()
            self._thread = threading.Thread(target=self._poll, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            self.peak = torch.cuda.max_memory_allocated(self.device)
        else:
            self._stop.set()
            self._thread.join()
            self.peak = max(self.peak, _rss_bytes())

    @property
    def mb(self) -> float:
        return self.peak / 2**20
