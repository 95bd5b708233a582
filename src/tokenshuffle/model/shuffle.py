"""Token-Shuffle (Ma et al., 2025, Sec. 3.2 and Fig. 4): the rearrangement and the learned merge/split.

``shuffle_tokens`` gathers every s×s window of a raster-ordered (h, w) token grid into one position by
concatenating the window's s² feature vectors (raster order inside the window) along the channel axis;
windows come out in raster order over the (h/s, w/s) window grid. ``unshuffle_tokens`` is its exact
inverse. Both are pure reshapes.

``TokenShuffle`` / ``TokenUnshuffle`` are the learned modules around the transformer: on the way in, a
shared per-token MLP compresses each image token D -> D/s² *before* the s×s window is concatenated back
to width D, followed by residual MLP blocks (2 by default); on the way out, residual MLP blocks at
width D, a split into s² parts of D/s², and a shared MLP D/s² -> D that restores each token's width for
the visual head. No positional embedding is added for the window: the raster order inside it is fixed
by the concatenation. Both modules work on window-grouped tensors (B, n, s², ·), so a training batch
(all windows of a grid) and a decode step (one window) take the same path.
"""

from __future__ import annotations

import torch
from torch import nn

from tokenshuffle.model.layers import RMSNorm


def check_window(grid, s) -> tuple[int, int]:
    """Return (h, w) after checking that ``grid`` is two positive ints and the window size s divides both."""
    if not isinstance(grid, (tuple, list)) or len(grid) != 2 or not all(_is_int(v) for v in grid):
        raise ValueError(f"grid must be a pair of ints (h, w), got {grid!r}")
    if not _is_int(s) or s < 1:
        raise ValueError(f"shuffle window s must be an int >= 1, got s={s!r}")
    h, w = int(grid[0]), int(grid[1])
    if h < 1 or w < 1:
        raise ValueError(f"grid must be positive, got h={h}, w={w}")
    if h % s or w % s:
        raise ValueError(f"shuffle window s={s} must divide the grid, got h={h}, w={w}")
    return h, w


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_rank(name: str, x, shape: str) -> None:
    if not isinstance(x, torch.Tensor) or x.ndim != 3:
        got = f"shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{name} must be a 3-D tensor {shape}, got {got}")


def shuffle_tokens(x: torch.Tensor, *, grid: tuple[int, int], s: int = 2) -> torch.Tensor:
    """(B, h*w, C) raster tokens -> (B, (h/s)*(w/s), s*s*C) one position per s×s window."""
    h, w = check_window(grid, s)
    _check_rank("x", x, "(B, h*w, C)")
    B, L, C = x.shape
    if L != h * w:
        raise ValueError(f"x has {L} tokens but grid h={h}, w={w} needs {h * w}")
    x = x.reshape(B, h // s, s, w // s, s, C)  # (B, h/s, s, w/s, s, C)
    x = x.permute(0, 1, 3, 2, 4, 5)  # (B, h/s, w/s, s, s, C)
    return x.reshape(B, (h // s) * (w // s), s * s * C)  # (B, h*w/s², s²C)


def unshuffle_tokens(y: torch.Tensor, *, grid: tuple[int, int], s: int = 2) -> torch.Tensor:
    """(B, (h/s)*(w/s), s*s*C) window positions -> (B, h*w, C) raster tokens; inverse of shuffle."""
    h, w = check_window(grid, s)
    _check_rank("y", y, "(B, h*w/s², s²C)")
    B, N, SC = y.shape
    if N != (h // s) * (w // s) or SC % (s * s):
        raise ValueError(f"y of shape {tuple(y.shape)} does not fit grid h={h}, w={w} with s={s}")
    C = SC // (s * s)
    y = y.reshape(B, h // s, w // s, s, s, C)  # (B, h/s, w/s, s, s, C)
    y = y.permute(0, 1, 3, 2, 4, 5)  # (B, h/s, s, w/s, s, C)
    return y.reshape(B, h * w, C)  # (B, h*w, C)


def codes_to_windows(codes: torch.Tensor, *, s: int) -> torch.Tensor:
    """(B, h, w) raster code grid -> (B, h*w/s², s²) codes grouped by window (the LM's input order)."""
    B, h, w = codes.shape
    return shuffle_tokens(codes.reshape(B, h * w, 1), grid=(h, w), s=s)  # (B, N, s²)


def windows_to_codes(windows: torch.Tensor, *, grid: tuple[int, int], s: int) -> torch.Tensor:
    """(B, h*w/s², s²) window-grouped codes -> (B, h, w) raster grid; inverse of codes_to_windows."""
    h, w = check_window(grid, s)
    B = windows.shape[0]
    return unshuffle_tokens(windows.reshape(B, -1, s * s), grid=(h, w), s=s).reshape(B, h, w)


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


def check_modules(dim: int, s: int, num_mlp_blocks: int) -> None:
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
        check_modules(dim, s, num_mlp_blocks)
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
        check_modules(dim, s, num_mlp_blocks)
        self.s = s
        self.blocks = nn.Sequential(*[ResidualMLP(dim, eps=eps) for _ in range(num_mlp_blocks)])
        self.expand = MLP(dim // (s * s), dim)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        B, n, D = h.shape
        h = self.blocks(h)
        h = h.reshape(B, n, self.s * self.s, D // (self.s * self.s))  # (B, n, s², D/s²)
        return self.expand(h)  # (B, n, s², D)
