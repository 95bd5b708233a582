"""LLaMA building blocks: RMSNorm, SwiGLU feed-forward, rotary position embedding (RoPE), and the
``linear`` that every decoder projection goes through."""

from __future__ import annotations

import functools
import math

import torch
from torch import nn
from torch.nn import functional as F

from tokenshuffle import kernels

# A decode step multiplies a handful of rows (batch x CFG) by each weight, so its time is the time to
# read the weights. Up to GEMV_MAX_ROWS rows go through tokenshuffle::gemv (tokenshuffle/kernels: one
# sequential read of the weight, float32 sums) where it is built and has its AVX-512 path: fp32 near
# torch's best, bf16 ~1.5x faster (docs/results.md, "Where a decode step goes"). Otherwise: on CPU,
# F.linear with few rows runs as a GEMM that packs (copies) the weight first and reads it at ~6 GB/s;
# weight @ x.T runs as a skinny GEMM straight off the weight, near the memory bandwidth. Below
# SKINNY_MIN_WEIGHT elements a weight stays in cache and the plain kernel is as fast.
GEMV_MAX_ROWS = 4
SKINNY_MAX_ROWS = 16
SKINNY_MIN_WEIGHT = 1 << 19
_KERNELS: bool | None = None  # tokenshuffle's CPU kernels in use; None until asked (kernels_ready)
# In bf16 neither layout reads fast (~10-15 GB/s); oneDNN's inner product over a weight reordered once
# to its blocked layout reads at ~19 GB/s. The reordered copy is kept beside the weight (a second copy
# of every bf16 projection, made on first use, an attribute of the parameter) and made again if the
# weight changes in place.
_PACKED = "_tokenshuffle_onednn"
_ONEDNN_BF16 = functools.cache(torch.ops.mkldnn._is_mkldnn_bf16_supported)  # asked once, not every product


def kernels_ready() -> bool:
    """Whether the decode step uses tokenshuffle's CPU kernels (``linear``'s few-row products, the
    attention of one query): where they are built with their AVX-512 path. Builds and loads them on the
    first call; ``compile_decode_step`` asks before compiling, so the compiled step uses them too."""
    global _KERNELS
    if _KERNELS is None:
        _KERNELS = kernels.load() and torch.ops.tokenshuffle.gemv_path() == "avx512"
    return _KERNELS


def kernels_on() -> bool:
    """``kernels_ready()``, read as it stands inside a compiled region (nothing is built while tracing)."""
    return bool(_KERNELS) if torch.compiler.is_compiling() else kernels_ready()


def _packed_bf16(weight: torch.Tensor) -> torch.Tensor | None:
    """oneDNN's reordered copy of a bf16 CPU parameter for inference, or None where it does not apply."""
    # An inference tensor keeps no version counter, so a change to it could not be seen: no copy.
    if (not isinstance(weight, nn.Parameter) or (weight.requires_grad and torch.is_grad_enabled())
            or weight.is_inference() or torch.compiler.is_compiling()
            or not _ONEDNN_BF16()):
        return None
    entry = getattr(weight, _PACKED, None)
    if entry is None or entry[0] != weight._version:
        entry = (weight._version, torch.ops.mkldnn._reorder_linear_weight(weight.detach(), SKINNY_MAX_ROWS))
        setattr(weight, _PACKED, entry)
    return entry[1]


def linear(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """(..., in) @ (out, in).T -> (..., out), bias-free, with the fast CPU path for few rows."""
    rows = x.numel() // x.shape[-1]
    if (x.device.type == "cpu" and x.dtype == weight.dtype and x.dtype in (torch.float32, torch.bfloat16)
            and rows <= GEMV_MAX_ROWS and weight.numel() >= SKINNY_MIN_WEIGHT
            and not (torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad))
            and kernels_on()):
        flat = x.reshape(rows, x.shape[-1])  # (rows, in)
        return torch.ops.tokenshuffle.gemv(flat, weight).reshape(*x.shape[:-1], weight.shape[0])  # (..., out)
    if (x.device.type == "cpu" and x.dtype == torch.float32 and rows <= SKINNY_MAX_ROWS
            and weight.numel() >= SKINNY_MIN_WEIGHT):
        # Rows in row-major order, so x.T is column-major: when x is itself a transposed product (SwiGLU's
        # gate * up), a row-major x.T sends MKL to a kernel that reads the weight at a quarter of the speed.
        flat = x.reshape(rows, x.shape[-1]).contiguous()  # (rows, in)
        if rows == 1:  # one row takes MKL's matrix-vector kernel, at half the speed of two
            return torch.mm(weight, flat.expand(2, -1).contiguous().t())[:, 0].reshape(*x.shape[:-1], -1)
        return torch.mm(weight, flat.t()).t().reshape(*x.shape[:-1], weight.shape[0])  # (..., out)
    if (x.device.type == "cpu" and x.dtype == weight.dtype == torch.bfloat16 and rows <= SKINNY_MAX_ROWS
            and weight.numel() >= SKINNY_MIN_WEIGHT):
        packed = _packed_bf16(weight)
        if packed is not None:
            return torch.ops.mkldnn._linear_pointwise(x, packed, None, "none", [None], "")  # (..., out)
    return F.linear(x, weight)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, *, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Normalise in float32 as LLaMA does, then cast back (matters under bf16 autocast).
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return xf.type_as(x) * self.weight


class SwiGLU(nn.Module):
    """w2(silu(w1 x) * w3 x) (Shazeer, 2020), as in LLaMA; w1 and w3 are one matrix ``w13`` (w1's rows
    first), so a decode step reads them in one product."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.w13 = nn.Linear(dim, 2 * hidden, bias=False)
        self.w2 = nn.Linear(hidden, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = linear(x, self.w13.weight).chunk(2, dim=-1)  # 2 x (..., hidden)
        return linear(F.silu(gate) * up, self.w2.weight)


def llama3_scaled(freqs: torch.Tensor, scaling: dict) -> torch.Tensor:
    """Llama 3.1's RoPE frequency scaling (rope type "llama3" in Hugging Face configs): wavelengths longer
    than ``original_max_position_embeddings / low_freq_factor`` are stretched by ``factor``, those shorter
    than ``.../ high_freq_factor`` are kept, and the band between is interpolated linearly in
    ``original / wavelength``."""
    factor, low, high = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
    old = scaling["original_max_position_embeddings"]
    wavelen = 2 * math.pi / freqs
    smooth = (old / wavelen - low) / (high - low)
    scaled = torch.where(wavelen > old / low, freqs / factor, freqs)
    middle = (wavelen <= old / low) & (wavelen >= old / high)
    return torch.where(middle, (1 - smooth) * freqs / factor + smooth * freqs, scaled)


def rope_table(*, max_len: int, head_dim: int, theta: float, scaling: dict | None = None) -> torch.Tensor:
    """(max_len, head_dim/2, 2) cos/sin of the rotation for each position and frequency pair;
    ``scaling`` a {"rope_type": "llama3", ...} dict (see ``llama3_scaled``) or None."""
    freqs = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim))
    if scaling is not None:
        freqs = llama3_scaled(freqs, scaling)
    angles = torch.outer(torch.arange(max_len, dtype=torch.float64), freqs)  # (max_len, head_dim/2)
    return torch.stack([angles.cos(), angles.sin()], dim=-1).float()


def apply_rope(x: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Rotate (B, L, H, hd) by the (L, hd/2, 2) table rows of each position (half-split pairing).

    Pairs dimension i with i + hd/2 (the Hugging Face Llama convention), so checkpoints from
    ``transformers`` load without permuting the q/k projections.
    """
    half = x.shape[-1] // 2
    x1, x2 = x.float()[..., :half], x.float()[..., half:]
    cos = table[None, :, None, :, 0]  # (1, L, 1, hd/2)
    sin = table[None, :, None, :, 1]
    out = torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)
    return out.type_as(x)
