"""Token-Shuffle rearrangements (Ma et al., 2025, Sec. 3.2): pure reshapes, no weights.

``shuffle_tokens`` gathers every s×s window of a raster-ordered (h, w) token grid into one position by
concatenating the window's s² feature vectors (raster order inside the window) along the channel axis;
windows themselves come out in raster order over the (h/s, w/s) window grid. ``unshuffle_tokens`` is
its exact inverse.
"""

from __future__ import annotations

import torch


def check_window(grid: tuple[int, int], s: int) -> tuple[int, int]:
    """Return (h, w) after checking that the window size s divides both; ValueError otherwise."""
    h, w = int(grid[0]), int(grid[1])
    if s < 1:
        raise ValueError(f"shuffle window s must be >= 1, got s={s}")
    if h < 1 or w < 1:
        raise ValueError(f"grid must be positive, got h={h}, w={w}")
    if h % s or w % s:
        raise ValueError(f"shuffle window s={s} must divide the grid, got h={h}, w={w}")
    return h, w


def shuffle_tokens(x: torch.Tensor, *, grid: tuple[int, int], s: int = 2) -> torch.Tensor:
    """(B, h*w, C) raster tokens -> (B, (h/s)*(w/s), s*s*C) one position per s×s window."""
    h, w = check_window(grid, s)
    B, L, C = x.shape
    if L != h * w:
        raise ValueError(f"x has {L} tokens but grid h={h}, w={w} needs {h * w}")
    x = x.reshape(B, h // s, s, w // s, s, C)  # (B, h/s, s, w/s, s, C)
    x = x.permute(0, 1, 3, 2, 4, 5)  # (B, h/s, w/s, s, s, C)
    return x.reshape(B, (h // s) * (w // s), s * s * C)  # (B, h*w/s², s²C)


def unshuffle_tokens(y: torch.Tensor, *, grid: tuple[int, int], s: int = 2) -> torch.Tensor:
    """(B, (h/s)*(w/s), s*s*C) window positions -> (B, h*w, C) raster tokens; inverse of shuffle."""
    h, w = check_window(grid, s)
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
