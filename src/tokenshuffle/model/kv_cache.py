"""Static, preallocated key/value cache (gpt-fast style): fixed shapes so decode can be compiled."""

from __future__ import annotations

import torch
from torch import nn


class KVCache(nn.Module):
    """Keys and values of one attention layer for ``max_len`` positions of a fixed batch.

    The batch is the sampler's full batch; with classifier-free guidance that is the doubled
    ``[cond; uncond]`` batch, so the cache is sized for it once, before prefill.
    """

    def __init__(self, *, batch: int, max_len: int, num_kv_heads: int, head_dim: int, dtype, device) -> None:
        super().__init__()
        shape = (batch, num_kv_heads, max_len, head_dim)  # (B, Hkv, max_len, hd)
        self.register_buffer("k", torch.zeros(shape, dtype=dtype, device=device), persistent=False)
        self.register_buffer("v", torch.zeros(shape, dtype=dtype, device=device), persistent=False)

    def update(self, input_pos: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, kv_len: int):
        """Write (B, Hkv, L, hd) at ``input_pos`` (L,); return the first ``kv_len`` cached positions."""
        self.k.index_copy_(2, input_pos, k.to(self.k.dtype))
        self.v.index_copy_(2, input_pos, v.to(self.v.dtype))
        return self.k[:, :, :kv_len], self.v[:, :, :kv_len]
