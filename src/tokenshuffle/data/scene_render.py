"""Rendering a ``SceneSpec``: a smooth background and flat-coloured, anti-aliased shapes, at any size.

Plain numpy + PIL: the background is a grey with a mild tint, a linear gradient and low-frequency noise
(so a downsample-16 VQ tokenizer can still reconstruct it); each shape is drawn at 4x supersampling
inside its own bounding box (anti-aliased edges, cheap even at 2048²).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageDraw

from tokenshuffle.data.shapes import COLORS, placed_outline
from tokenshuffle.errors import check_range

if TYPE_CHECKING:
    from tokenshuffle.data.scenes import SceneObject, SceneSpec

_SUPERSAMPLE = 4
NOISE_GRID = 5  # the background noise is a NOISE_GRID x NOISE_GRID grid, bicubically upsampled


def _render_background(params: tuple[float, ...], height: int, width: int) -> np.ndarray:
    base = np.asarray(params[:3], dtype=np.float32)
    angle, amplitude = params[3], params[4]
    grid = np.asarray(params[5:], dtype=np.float32).reshape(NOISE_GRID, NOISE_GRID)
    noise = np.asarray(Image.fromarray(grid, mode="F").resize((width, height), Image.BICUBIC))  # (H, W)
    ys = np.linspace(-0.5, 0.5, height, dtype=np.float32)[:, None]
    xs = np.linspace(-0.5, 0.5, width, dtype=np.float32)[None, :]
    ramp = 2 * amplitude * (xs * math.cos(angle) + ys * math.sin(angle))  # (H, W), within +-amplitude
    return base[None, None, :] + (ramp + noise)[:, :, None]  # (H, W, 3)


def _draw_object(canvas: np.ndarray, obj: SceneObject) -> None:
    height, width = canvas.shape[:2]
    short = min(height, width)
    center = np.array([obj.center[0] * width, obj.center[1] * height])
    # The outline about its own centre, shifted last: copies of an object whose centres differ by whole
    # pixels get bit-identical local coordinates below, hence identical pixels (no rounding jitter).
    rel = placed_outline(obj.shape, center=(0.0, 0.0), size=obj.size * short, angle=obj.angle)
    pts = rel + center
    x0, y0 = np.floor(pts.min(0)).astype(int) - 1
    x1, y1 = np.ceil(pts.max(0)).astype(int) + 1
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if x1 <= x0 or y1 <= y0:
        return
    mask = Image.new("L", ((x1 - x0) * _SUPERSAMPLE, (y1 - y0) * _SUPERSAMPLE), 0)
    local = (rel + (center - np.array([x0, y0]))) * _SUPERSAMPLE
    ImageDraw.Draw(mask).polygon([tuple(p) for p in local.tolist()], fill=255)
    alpha = np.asarray(mask.resize((x1 - x0, y1 - y0), Image.BOX), dtype=np.float32)[:, :, None] / 255.0
    color = np.clip(np.asarray(COLORS[obj.color], dtype=np.float32) + obj.shade, 0, 255)
    region = canvas[y0:y1, x0:x1]
    region += alpha * (color - region)


def render_scene(spec: SceneSpec, *, height: int, width: int) -> Image.Image:
    """Render ``spec`` as an RGB image of ``height`` x ``width`` pixels (any size from 16 to 4096)."""
    check_range("height", height, low=16, high=4096)
    check_range("width", width, low=16, high=4096)
    canvas = _render_background(spec.background, height, width)
    for obj in spec.objects:
        _draw_object(canvas, obj)
    return Image.fromarray(np.clip(canvas + 0.5, 0, 255).astype(np.uint8), mode="RGB")
