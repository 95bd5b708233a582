"""Images for the wire: PNG as base64, and previews of a half-decoded grid (the rest left grey).

A preview decodes only the finished window rows (the VQ decoder is convolutional, so a grid of r code
rows gives an image r * downsample pixels tall) and pastes it on a grey canvas of the final size:
its cost grows with the rows done, and nothing undecoded is invented.
"""

from __future__ import annotations

import base64
import io

import torch
from PIL import Image

import tokenshuffle as ts
from tokenshuffle.pipeline import to_pil

GREY = (128, 128, 128)


def png_b64(image: Image.Image) -> str:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def finished_window_rows(t: int, *, grid: tuple[int, int], s: int) -> int:
    """Window rows complete after ``t`` image positions (raster order over the (h/s, w/s) windows)."""
    return t // (grid[1] // s)


@torch.no_grad()
def preview_images(vq, windows: torch.Tensor, *, grid: tuple[int, int], s: int) -> list[Image.Image]:
    """(B, t, s²) window codes decoded so far -> B images of the full size, grey below the finished rows."""
    h, w = grid
    B = windows.shape[0]
    done = finished_window_rows(windows.shape[1], grid=grid, s=s)
    f = vq.downsample
    canvas = [Image.new("RGB", (w * f, h * f), GREY) for _ in range(B)]
    if done == 0:
        return canvas
    part = windows[:, : done * (w // s)]  # (B, done * w/s, s²): whole window rows only
    codes = ts.unshuffle_tokens(part, grid=(done * s, w), s=s).reshape(B, done * s, w)  # (B, done*s, w)
    device = next(vq.parameters()).device
    for c, im in zip(canvas, to_pil(vq.decode(codes.to(device))), strict=True):
        c.paste(im, (0, 0))
    return canvas
