"""The vocabulary of the synthetic scenes: colours, shapes and their outlines.

Shared by the renderer (``data.scenes``) and the evaluator (``eval.scenes``), so that what is drawn and
what is detected can never drift apart. Colours are GenEval's ten colour names; each has one RGB value
chosen so that the ten stay far apart in RGB even after blur and JPEG, and so that all of them stand
out from the scene background (a low-saturation mid grey, see ``BACKGROUND_*``).
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np

# GenEval's ten colour names (Ghosh et al., 2023, Sec. 3), with the RGB value the renderer paints.
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (215, 35, 35),
    "orange": (245, 140, 20),
    "yellow": (245, 215, 30),
    "green": (40, 165, 65),
    "blue": (40, 90, 220),
    "purple": (135, 60, 190),
    "pink": (245, 140, 190),
    "brown": (135, 80, 35),
    "black": (25, 25, 25),
    "white": (245, 245, 245),
}
COLOR_NAMES: tuple[str, ...] = tuple(COLORS)

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "hexagon", "heart")
PLURALS: dict[str, str] = {name: name + "s" for name in SHAPES}
NUMBER_WORDS: dict[int, str] = {1: "one", 2: "two", 3: "three", 4: "four"}

# The background is a grey whose mean channel value and saturation (max - min channel) stay inside
# these bounds everywhere (base + gradient + noise); the evaluator calls a pixel "background" when it
# lies inside the slightly wider ``BACKGROUND_MEAN_RANGE`` / ``BACKGROUND_MAX_SATURATION``.
BACKGROUND_BASE_RANGE = (105, 150)
BACKGROUND_MEAN_RANGE = (62, 198)
BACKGROUND_MAX_SATURATION = 48

# Colour-shape pairs that never occur in training scenes; the "hard" evaluation split asks for them.
HARD_PAIRS: tuple[tuple[str, str], ...] = (
    ("blue", "heart"),
    ("green", "star"),
    ("red", "hexagon"),
    ("yellow", "triangle"),
    ("purple", "square"),
    ("orange", "circle"),
)


def _regular_polygon(num_vertices: int, *, phase: float) -> np.ndarray:
    angles = phase + 2 * math.pi * np.arange(num_vertices) / num_vertices
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)


def _star(num_points: int = 5, *, inner: float = 0.45) -> np.ndarray:
    angles = -math.pi / 2 + math.pi * np.arange(2 * num_points) / num_points
    radii = np.where(np.arange(2 * num_points) % 2 == 0, 1.0, inner)
    return np.stack([radii * np.cos(angles), radii * np.sin(angles)], axis=1)


def _heart(num_points: int = 96) -> np.ndarray:
    # The classic parametric heart curve; y points down in image coordinates, hence the minus sign.
    t = np.linspace(0, 2 * math.pi, num_points, endpoint=False)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))
    pts = np.stack([x, y], axis=1)
    pts -= (pts.max(0) + pts.min(0)) / 2
    return pts


@cache
def outline(shape: str) -> np.ndarray:
    """Unit outline of ``shape``: (N, 2) float vertices, centred, fitting exactly in [-1, 1]^2."""
    if shape == "circle":
        pts = _regular_polygon(96, phase=0.0)
    elif shape == "square":
        pts = _regular_polygon(4, phase=math.pi / 4)
    elif shape == "triangle":
        pts = _regular_polygon(3, phase=-math.pi / 2)
    elif shape == "star":
        pts = _star()
    elif shape == "hexagon":
        pts = _regular_polygon(6, phase=0.0)
    elif shape == "heart":
        pts = _heart()
    else:
        raise ValueError(f"shape must be one of {', '.join(SHAPES)}; got {shape!r}")
    pts = pts - (pts.max(0) + pts.min(0)) / 2
    pts = pts / np.abs(pts).max()
    pts.setflags(write=False)
    return pts


def placed_outline(shape: str, *, center: tuple[float, float], size: float, angle: float) -> np.ndarray:
    """Outline of ``shape`` rotated by ``angle`` degrees, scaled to ``size`` px across, at ``center`` (x, y)."""
    theta = math.radians(angle)
    rot = np.array([[math.cos(theta), -math.sin(theta)], [math.sin(theta), math.cos(theta)]])
    return outline(shape) @ rot.T * (size / 2) + np.asarray(center, dtype=np.float64)
