"""A plain LLaMA-style decoder over embeddings: it knows nothing of text, images or windows.

Pre-norm blocks (RMSNorm -> attention, RMSNorm -> SwiGLU), RoPE, grouped-query attention, optional
QK-norm. One ``forward`` serves training, prefill and decode: with a cache set up (``setup_cache``)
keys and values are written at ``input_pos`` and attention reads the cached prefix.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from tokenshuffle.model.attention import Attention
from tokenshuffle.model.kv_cache import KVCache
from tokenshuffle.model.layers import RMSNorm, SwiGLU, rope_table


@dataclass(frozen=True)
class DecoderConfig:
    dim: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    ffn_hidden: int
    max_seq_len: int
    norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    qk_norm: bool = False
    rope_scaling: dict | None = None  # LMConfig.rope_scaling


class Block(nn.Module):
    def __init__(self, cfg: DecoderConfig) -> None:
        super().__init__()
        self.attention_norm = RMSNorm(cfg.dim, eps=cfg.norm_eps)
        self.attention = Attention(
            cfg.dim, num_heads=cfg.num_heads, num_kv_heads=cfg.num_kv_heads, qk_norm=cfg.qk_norm, eps=cfg.norm_eps
        )
        self.ffn_norm = RMSNorm(cfg.dim, eps=cfg.norm_eps)
        self.feed_forward = SwiGLU(cfg.dim, cfg.ffn_hidden)

    def forward(self, x: torch.Tensor, *, rope, input_pos, mask, kv_len: int) -> torch.Tensor:
        x = x + self.attention(self.attention_norm(x), rope=rope, input_pos=input_pos, mask=mask, kv_len=kv_len)
        return x + self.feed_forward(self.ffn_norm(x))


class Decoder(nn.Module):
    def __init__(self, cfg: DecoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.layers = nn.ModuleList([Block(cfg) for _ in range(cfg.num_layers)])
        self.norm = RMSNorm(cfg.dim, eps=cfg.norm_eps)
        table = rope_table(max_len=cfg.max_seq_len, head_dim=cfg.dim // cfg.num_heads, theta=cfg.rope_theta,
                           scaling=cfg.rope_scaling)
        self.register_buffer("rope", table, persistent=False)  # (max_seq_len, hd/2, 2)
        self.key_valid: torch.Tensor | None = None  # (B, max_len) bool, only while a cache is set up

    def setup_cache(self, *, batch: int, max_len: int, dtype: torch.dtype, device) -> None:
        """Preallocate every layer's KV cache for ``batch`` rows (the CFG-doubled batch) and ``max_len``."""
        if max_len > self.cfg.max_seq_len:
            raise ValueError(f"sequence of {max_len} positions exceeds max_seq_len={self.cfg.max_seq_len}")
        head_dim = self.cfg.dim // self.cfg.num_heads
        for layer in self.layers:
            layer.attention.cache = KVCache(
                batch=batch, max_len=max_len, num_kv_heads=self.cfg.num_kv_heads, head_dim=head_dim,
                dtype=dtype, device=device,
            )
        self.key_valid = torch.zeros(batch, max_len, dtype=torch.bool, device=device)

    def clear_cache(self) -> None:
        for layer in self.layers:
            layer.attention.cache = None
        self.key_valid = None

    def forward(self, x: torch.Tensor, *, input_pos: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """x (B, L, D) at positions ``input_pos`` (L,); ``valid`` (B, L) is False at padding -> (B, L, D)."""
        if self.key_valid is not None:
            self.key_valid.index_copy_(1, input_pos, valid)
            # Eager: attend only over the filled prefix of the cache. Compiled: keep static shapes.
            kv_len = self.key_valid.shape[1] if torch.compiler.is_compiling() else int(input_pos[-1]) + 1
            key_pos = torch.arange(kv_len, device=x.device)
            key_valid = self.key_valid[:, :kv_len]
        else:
            kv_len, key_pos, key_valid = x.shape[1], input_pos, valid
        causal = key_pos[None, :] <= input_pos[:, None]  # (L, kv_len)
        # A query always sees itself, so a padding row never has every key masked (no NaN).
        itself = key_pos[None, :] == input_pos[:, None]
        mask = (key_valid[:, None, None, :] & causal) | itself  # (B, 1, L, kv_len)
        rope = self.rope[input_pos]  # (L, hd/2, 2)
        for layer in self.layers:
            x = layer(x, rope=rope, input_pos=input_pos, mask=mask, kv_len=kv_len)
        return self.norm(x)
