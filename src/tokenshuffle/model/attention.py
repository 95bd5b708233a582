"""Grouped-query self-attention with RoPE, optional QK-norm and an optional static KV cache."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from tokenshuffle.model.kv_cache import KVCache
from tokenshuffle.model.layers import RMSNorm, apply_rope


class Attention(nn.Module):
    def __init__(self, dim: int, *, num_heads: int, num_kv_heads: int, qk_norm: bool, eps: float) -> None:
        super().__init__()
        self.num_heads, self.num_kv_heads = num_heads, num_kv_heads
        self.head_dim = dim // num_heads
        self.wq = nn.Linear(dim, num_heads * self.head_dim, bias=False)
        self.wk = nn.Linear(dim, num_kv_heads * self.head_dim, bias=False)
        self.wv = nn.Linear(dim, num_kv_heads * self.head_dim, bias=False)
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
        mask: torch.Tensor,
        kv_len: int,
    ) -> torch.Tensor:
        B, L, _ = x.shape
        q = self.q_norm(self.wq(x).view(B, L, self.num_heads, self.head_dim))  # (B, L, H, hd)
        k = self.k_norm(self.wk(x).view(B, L, self.num_kv_heads, self.head_dim))  # (B, L, Hkv, hd)
        v = self.wv(x).view(B, L, self.num_kv_heads, self.head_dim)  # (B, L, Hkv, hd)
        q, k = apply_rope(q, rope), apply_rope(k, rope)
        q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # (B, H|Hkv, L, hd)
        if self.cache is not None:
            k, v = self.cache.update(input_pos, k, v, kv_len=kv_len)  # (B, Hkv, kv_len, hd)
        y = F.scaled_dot_product_attention(
            q, k.to(q.dtype), v.to(q.dtype), attn_mask=mask, enable_gqa=self.num_heads != self.num_kv_heads
        )  # (B, H, L, hd)
        return self.wo(y.transpose(1, 2).reshape(B, L, self.num_heads * self.head_dim))
