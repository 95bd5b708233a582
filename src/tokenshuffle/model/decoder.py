"""A plain LLaMA-style decoder over embeddings: it knows nothing of text, images or windows.

Pre-norm blocks (RMSNorm -> attention, RMSNorm -> SwiGLU), RoPE, grouped-query attention, optional
QK-norm. One ``forward`` serves training, prefill and decode: with a cache set up (``setup_cache``)
keys and values are written at ``input_pos`` and attention reads the cached prefix.

With a cache, which keys exist is state too: ``key_bias`` (B, 1, 1, max_len) is 0 at every written,
non-padding position and -inf elsewhere, so a one-query decode step needs no mask of its own and no
look at ``input_pos`` on the host. Eager on CPU the step attends over the filled prefix only (a host
read of ``input_pos`` is free there and halves the attention reads on average); compiled or on a
GPU it attends over the whole static cache, the unwritten positions masked by their -inf bias, so
every step has the same shapes (one compilation, CUDA-graph capturable). On CPU with tokenshuffle's
kernels (``layers.kernels_ready``) the attention kernel reads only the written positions either way.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from tokenshuffle.model.attention import Attention, KeyMask
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
        # (B, 1, 1, max_len) while a cache is set up; a buffer (not a plain attribute) so CUDA graphs
        # treat it as static memory mutated in place.
        self.register_buffer("key_bias", None, persistent=False)

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
        # float32 on CPU: the decode attention kernel reads it so, once per layer and step.
        bias_dtype = torch.float32 if torch.device(device).type == "cpu" else dtype
        self.key_bias = torch.full((batch, 1, 1, max_len), float("-inf"), dtype=bias_dtype, device=device)

    def clear_cache(self) -> None:
        for layer in self.layers:
            layer.attention.cache = None
        self.key_bias = None

    def keep_cache_rows(self, rows: torch.Tensor) -> None:
        """Keep only batch ``rows`` (indices) of every layer's cache and of the key bias."""
        for layer in self.layers:
            cache = layer.attention.cache
            cache.k, cache.v = cache.k[rows], cache.v[rows]  # (rows', Hkv, max_len, hd)
        self.key_bias = self.key_bias[rows]  # (rows', 1, 1, max_len)

    def forward(self, x: torch.Tensor, *, input_pos: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """x (B, L, D) at positions ``input_pos`` (L,); ``valid`` (B, L) is False at padding -> (B, L, D).

        A decode step (L = 1 with a cache) must have every row valid: padding lives in the prefix."""
        L = x.shape[1]
        if self.key_bias is not None:
            kv_len = self._cached_len(x, input_pos)
            bias = torch.zeros_like(valid, dtype=self.key_bias.dtype).masked_fill(~valid, float("-inf"))  # (B, L)
            self.key_bias.index_copy_(3, input_pos, bias[:, None, None, :])
            if L == 1:
                mask = self.key_bias[..., :kv_len]  # (B, 1, 1, kv_len)
            else:
                key_valid = self.key_bias[:, 0, 0, :kv_len] == 0  # (B, kv_len)
                mask = KeyMask(input_pos, torch.arange(kv_len, device=x.device), key_valid)
        else:
            kv_len, mask = L, KeyMask(input_pos, input_pos, valid)
        rope = self.rope[input_pos]  # (L, hd/2, 2)
        for layer in self.layers:
            x = layer(x, rope=rope, input_pos=input_pos, mask=mask, kv_len=kv_len)
        return self.norm(x)

    def _cached_len(self, x: torch.Tensor, input_pos: torch.Tensor) -> int:
        """Cache positions attention reads: the filled prefix eagerly on CPU, the whole cache otherwise."""
        if x.device.type == "cpu" and not torch.compiler.is_compiling():
            return int(input_pos[-1]) + 1
        return self.key_bias.shape[-1]
