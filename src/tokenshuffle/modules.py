"""TokenShuffle / TokenUnshuffle: the paper's learned merge and split around the transformer.

Ma et al. (2025), Sec. 3.2 and Fig. 4: on the way in, a shared per-token MLP compresses each image
token D -> D/s² *before* the s×s window is concatenated back to width D, followed by residual MLP
blocks (2 by default); on the way out, residual MLP blocks at width D, a split into s² parts of D/s²,
and a shared MLP D/s² -> D that restores each token's width for the visual head. No positional
embedding is added for the window: the raster order inside it is fixed by the concatenation.

Both modules work on window-grouped tensors (B, n, s², ·) so a training batch (all windows of a grid)
and a decode step (one window) take the same path; ``tokenshuffle.ops`` converts raster grids.
"""

from __future__ import annotations

import torch
from torch import nn

from tokenshuffle.model.layers import RMSNorm


class MLP(nn.Module):
    """Linear -> GELU -> Linear."""

    def __init__(self, dim_in: int, dim_out: int, *, hidden: int | None = None) -> None:
        super().__init__()
        hidden = hidden or dim_out
        self.fc1 = nn.Linear(dim_in, hidden)
        self.fc2 = nn.Linear(hidden, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(nn.functional.gelu(self.fc1(x)))


class ResidualMLP(nn.Module):
    """x + MLP(RMSNorm(x)) at constant width; pre-norm keeps the stack stable at init."""

    def __init__(self, dim: int, *, eps: float = 1e-5) -> None:
        super().__init__()
        self.norm = RMSNorm(dim, eps=eps)
        self.mlp = MLP(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mlp(self.norm(x))


def _check(dim: int, s: int, num_mlp_blocks: int) -> None:
    if s < 2:
        raise ValueError(f"shuffle window s must be >= 2 for the shuffle modules, got {s} (s=1 uses none)")
    if dim % (s * s):
        raise ValueError(f"dim={dim} must be divisible by s*s={s * s}")
    if num_mlp_blocks < 0:
        raise ValueError(f"num_mlp_blocks must be >= 0, got {num_mlp_blocks}")


class TokenShuffle(nn.Module):
    """(B, n, s², D) window-grouped token embeddings -> (B, n, D) one position per window."""

    def __init__(self, dim: int, *, s: int = 2, num_mlp_blocks: int = 2, eps: float = 1e-5) -> None:
        super().__init__()
        _check(dim, s, num_mlp_blocks)
        self.s = s
        self.compress = MLP(dim, dim // (s * s))
        self.blocks = nn.Sequential(*[ResidualMLP(dim, eps=eps) for _ in range(num_mlp_blocks)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, n, ss, D = x.shape
        x = self.compress(x)  # (B, n, s², D/s²)
        x = x.reshape(B, n, D)  # (B, n, D): concatenation of the window, raster order inside it
        return self.blocks(x)


class TokenUnshuffle(nn.Module):
    """(B, n, D) transformer outputs -> (B, n, s², D) one feature per image token of the window."""

    def __init__(self, dim: int, *, s: int = 2, num_mlp_blocks: int = 2, eps: float = 1e-5) -> None:
        super().__init__()
        _check(dim, s, num_mlp_blocks)
        self.s = s
        self.blocks = nn.Sequential(*[ResidualMLP(dim, eps=eps) for _ in range(num_mlp_blocks)])
        self.expand = MLP(dim // (s * s), dim)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        B, n, D = h.shape
        h = self.blocks(h)
        h = h.reshape(B, n, self.s * self.s, D // (self.s * self.s))  # (B, n, s², D/s²)
        return self.expand(h)  # (B, n, s², D)
