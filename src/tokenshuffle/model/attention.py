"""Grouped-query self-attention with RoPE, optional QK-norm and an optional static KV cache.

Which keys a query may see comes in one of two forms (built by ``Decoder.forward``):

- a float key bias (B, 1, 1, kv_len), 0 where a key may be seen and -inf elsewhere: the decode
  step. One query per row, no boolean mask and no host synchronisation, so on CUDA SDPA may pick its
  memory-efficient kernel and the step can be captured in a CUDA graph.
- a ``KeyMask`` (query and key positions, key validity): training, scoring and prefill. It is turned
  into a boolean mask one block of ``QUERY_BLOCK`` queries at a time, each block attending only to
  the keys up to its last query, so nothing of size L x L exists at long sequences (16,384 positions
  at 2048² and s=1).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from tokenshuffle.model.kv_cache import KVCache
from tokenshuffle.model.layers import RMSNorm, apply_rope, kernels_on, linear

QUERY_BLOCK = 1024  # queries per SDPA call in the masked path: a (B, 1, 1024, L) bool mask, not (L, L)


@dataclass(frozen=True)
class KeyMask:
    """Causal attention over left-padded rows: query i sees key j when j <= i and j is not padding."""

    query_pos: torch.Tensor  # (L,) ascending
    key_pos: torch.Tensor  # (kv_len,) ascending
    key_valid: torch.Tensor  # (B, kv_len) bool, False at padding

    def block(self, start: int, stop: int, *, num_keys: int) -> torch.Tensor:
        """(B, 1, stop - start, num_keys) bool mask of queries [start, stop) over the first num_keys keys."""
        q = self.query_pos[start:stop, None]  # (l, 1)
        k = self.key_pos[None, :num_keys]  # (1, n)
        # A query always sees itself, so a padding row never has every key masked (no NaN).
        return (self.key_valid[:, None, None, :num_keys] & (k <= q)) | (k == q)  # (B, 1, l, n)


class Attention(nn.Module):
    def __init__(self, dim: int, *, num_heads: int, num_kv_heads: int, qk_norm: bool, eps: float) -> None:
        super().__init__()
        self.num_heads, self.num_kv_heads = num_heads, num_kv_heads
        self.head_dim = dim // num_heads
        # q, k and v as one matrix (rows: H heads of q, then Hkv of k, then Hkv of v): one product per step.
        self.split = (num_heads * self.head_dim, num_kv_heads * self.head_dim, num_kv_heads * self.head_dim)
        self.wqkv = nn.Linear(dim, sum(self.split), bias=False)
        self.wo = nn.Linear(num_heads * self.head_dim, dim, bias=False)
        # QK-norm (per head) keeps attention logits bounded in high-resolution training (paper Sec. 3.3).
        self.q_norm = RMSNorm(self.head_dim, eps=eps) if qk_norm else nn.Identity()
        self.k_norm = RMSNorm(self.head_dim, eps=eps) if qk_norm else nn.Identity()
        self.cache: KVCache | None = None

    def forward(
        self,
        x: torch.Tensor,
        *,
        rope: torch.Tensor,
        input_pos: torch.Tensor,
        mask: torch.Tensor | KeyMask,
        kv_len: int,
    ) -> torch.Tensor:
        B, L, _ = x.shape
        q, k, v = linear(x, self.wqkv.weight).split(self.split, dim=-1)  # (B, L, H·hd), 2 x (B, L, Hkv·hd)
        q = self.q_norm(q.view(B, L, self.num_heads, self.head_dim))  # (B, L, H, hd)
        k = self.k_norm(k.view(B, L, self.num_kv_heads, self.head_dim))  # (B, L, Hkv, hd)
        v = v.view(B, L, self.num_kv_heads, self.head_dim)  # (B, L, Hkv, hd)
        q, k = apply_rope(q, rope), apply_rope(k, rope)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (B, H|Hkv, L, hd)
        if self.cache is not None:
            k, v = self.cache.update(input_pos, k, v, kv_len=kv_len)  # (B, Hkv, kv_len, hd)
        if isinstance(mask, torch.Tensor) and L == 1 and x.device.type == "cpu" and kernels_on():
            # A CPU decode step through tokenshuffle's kernel: reads only the written positions of the
            # cache (float32, or bf16 for a bf16 model: TokenShuffleLM.cache_dtype), sums in float32.
            y = torch.ops.tokenshuffle.decode_attention(
                q[:, :, 0], k, v, mask[:, 0, 0].float(), input_pos, self.head_dim**-0.5)[:, :, None]  # (B, H, 1, hd)
            return linear(y.to(x.dtype).transpose(1, 2).reshape(B, L, self.num_heads * self.head_dim),
                          self.wo.weight)
        # Otherwise attention runs in the cache's dtype, or in x's without a cache.
        q = q.to(k.dtype)
        if isinstance(mask, torch.Tensor):
            y = self._sdpa(q, k, v, mask.to(q.dtype))  # (B, H, L, hd)
        else:
            y = self._blocked(q, k, v, mask)  # (B, H, L, hd)
        y = y.to(x.dtype)
        return linear(y.transpose(1, 2).reshape(B, L, self.num_heads * self.head_dim), self.wo.weight)

    def _sdpa(self, q, k, v, mask) -> torch.Tensor:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=self.num_heads != self.num_kv_heads)

    def _blocked(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: KeyMask) -> torch.Tensor:
        """Causal masked attention in blocks of queries; keys past a block's last query are never seen
        when keys and queries are the same positions (training, prefill from 0), so they are cut."""
        L, kv_len = q.shape[2], k.shape[2]
        same = L == kv_len
        out = []
        for start in range(0, L, QUERY_BLOCK):
            stop = min(L, start + QUERY_BLOCK)
            n = stop if same else kv_len
            block = mask.block(start, stop, num_keys=n)  # (B, 1, stop - start, n)
            out.append(self._sdpa(q[:, :, start:stop], k[:, :, :n], v[:, :, :n], block))  # (B, H, l, hd)
        return out[0] if len(out) == 1 else torch.cat(out, dim=2)  # (B, H, L, hd)
