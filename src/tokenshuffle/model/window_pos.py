"""WindowPosition: where in the image the next window lies, added to the decoder input (beyond the paper)."""

from __future__ import annotations

import math

import torch
from torch import nn

NUM_FREQS = 4  # sin/cos of pi * 2^k * fraction, k < NUM_FREQS, for the row and for the column


class WindowPosition(nn.Module):
    """(L, 4) long ``(row, col, rows, cols)`` of the window each position predicts -> (L, D) added to its input;
    a row of -1 (a position that predicts no window: text, the last window) adds nothing.

    Beyond the paper. The decoder's RoPE is 1D: at 512² one image row is 16 windows, at 1024² 32 and at
    512x1024 16 again over twice the rows, so the row stride and the image's edges are only implicit in the
    grid tokens. A model that learned its positions at one size wraps an object cut by the right edge onto
    the left edge one row down at another. This module tells each position the window it is about to draw:
    a learned vector per row and per column (absolute, in windows) and a projection of sin/cos features of
    its place as a fraction of the image (the scene layout is in fractions, so this part is the same at
    every size). Everything starts at zero: a model trained without it computes the same function with it
    (``reset``), so a stage can add it to a parent.
    """

    def __init__(self, dim: int, *, max_side: int) -> None:
        super().__init__()
        self.rows = nn.Embedding(max_side, dim)
        self.cols = nn.Embedding(max_side, dim)
        self.fraction = nn.Linear(4 * NUM_FREQS, dim, bias=False)
        self.register_buffer("freqs", math.pi * 2.0 ** torch.arange(NUM_FREQS), persistent=False)
        self.reset()

    @torch.no_grad()
    def reset(self) -> None:
        for p in self.parameters():
            p.zero_()

    def forward(self, pos: torch.Tensor) -> torch.Tensor:
        r, c, h, w = pos.unbind(-1)  # (L,) each
        on = r >= 0
        r, c = r.clamp(min=0), c.clamp(min=0)
        fr = (r + 0.5) / h.clamp(min=1)  # (L,) centre of the window as a fraction of the image height
        fc = (c + 0.5) / w.clamp(min=1)
        angles = torch.cat([fr[:, None] * self.freqs, fc[:, None] * self.freqs], dim=-1)  # (L, 2K)
        feats = torch.cat([angles.sin(), angles.cos()], dim=-1).to(self.fraction.weight.dtype)  # (L, 4K)
        out = self.rows(r) + self.cols(c) + self.fraction(feats)  # (L, D)
        return out * on[:, None].to(out.dtype)
