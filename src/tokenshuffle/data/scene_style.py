"""How much a synthetic scene varies beyond what its prompt names: the scene's *style*.

A prompt names shapes, colours, counts and relations; everything else in a scene (the background's
tint, gradient and noise, each object's rotation and brightness jitter, positions and sizes down to
the pixel) is nuisance that a text-to-image model must still learn to draw. Through a VQ tokenizer
most of an image's codes carry that nuisance: on the textured scenes about 80 % of the shipped demo
model's held-out bits go to background codes, which no prompt word informs. ``canonical`` keeps
every prompt-relevant choice and removes the nuisance, so a model trained with little compute spends
its capacity on what the prompt says. ``fixed`` goes one step further: every object of a scene with
N objects has the same size (one per N), so on the layout grid a colour-shape pair always becomes the
same block of codes and the model only has to choose and place the objects the prompt names.

The sampler draws the same random numbers in every style and only then applies the style, so the
``textured`` stream of a seed is unchanged by the existence of other styles, and most scenes of a seed
have the same prompt, shapes and colours in every style (a layout that snapping breaks, by overlap or
by a lost relation, is redrawn, and from there that scene's draws differ).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tokenshuffle.errors import check_choice, check_range

BACKGROUNDS = ("textured", "plain")
PLAIN_GREY = 128.0  # the plain background's value in every channel: the middle of the evaluator's grey band


@dataclass(frozen=True)
class SceneStyle:
    # "textured": a tinted grey with a linear gradient and low-frequency noise; "plain": PLAIN_GREY everywhere.
    background: str = "textured"
    rotate: bool = True  # rotate each object by a random angle (up to 30 degrees, hearts 20)
    shade: bool = True  # jitter each object's brightness by up to 12 levels around its palette colour
    # 0: continuous layout; N > 0: centres (fractions of width/height) and sizes (fractions of the short
    # side) rounded to multiples of 1/N, so an object's edges fall on the same pixel phase every time
    # (N = 32 at 512^2 is the 16-pixel grid of a downsample-16 tokenizer).
    snap: int = 0
    # (): each object's size is drawn from its scene's range; four fractions of the short side: the
    # size of every object in a scene of 1, 2, 3 or 4 objects (the draw is still made, then replaced).
    fixed_sizes: tuple[float, ...] = ()
    # 0: captions of two-object, colour-attribute and left/right scenes name the objects in either
    # order. N > 0: they name them in reading order, the order a raster-scan decoder meets them: by
    # the horizontal band (one of N across the height) holding each object's top edge, then left to
    # right ("B right of A" where B comes first). In either order a decoder must choose *which* named
    # object to start at, and can give the second object's colour to the first object's shape; in
    # reading order the first object it draws is always the first one named ("above"/"below" keep
    # both phrasings: the word says which comes first). N = 16 at 512^2 is one decoder row of a
    # downsample-16 tokenizer at s=2.
    reading_rows: int = 0

    def __post_init__(self) -> None:
        check_choice("background", self.background, BACKGROUNDS)
        check_range("snap", self.snap, low=0, high=4096)
        check_range("reading_rows", self.reading_rows, low=0, high=4096)
        object.__setattr__(self, "fixed_sizes", tuple(float(v) for v in self.fixed_sizes))
        if self.fixed_sizes and len(self.fixed_sizes) != 4:
            raise ValueError(f"fixed_sizes must be empty or 4 sizes (1 to 4 objects), got {self.fixed_sizes}")
        for v in self.fixed_sizes:
            check_range("fixed_sizes", v, low=0, high=0.5, low_open=True)

    def size(self, drawn: float, *, num_objects: int) -> float:
        """An object's size in a scene of ``num_objects``: the fixed one if set, else ``drawn``, snapped."""
        return self.snapped(self.fixed_sizes[num_objects - 1] if self.fixed_sizes else drawn)

    def snapped(self, fraction: float) -> float:
        """``fraction`` on the layout grid (unchanged when ``snap`` is 0)."""
        return round(fraction * self.snap) / self.snap if self.snap else fraction

    def reading_key(self, box: tuple[float, float, float, float]) -> tuple[int, float]:
        """Where an object's bounding box (x0, y0, x1, y1, height units) falls in reading order."""
        return (math.floor(box[1] * self.reading_rows + 1e-9), box[0])


TEXTURED = SceneStyle()  # the default everywhere
STYLES: dict[str, SceneStyle] = {
    "textured": TEXTURED,
    "canonical": SceneStyle(background="plain", rotate=False, shade=False, snap=32),
    # canonical with one size per object count: 128 px objects alone or in pairs, 96 px in threes and
    # fours at 512^2 (8 and 6 codes of a downsample-16 tokenizer across).
    "fixed": SceneStyle(background="plain", rotate=False, shade=False, snap=32,
                        fixed_sizes=(0.25, 0.25, 0.1875, 0.1875)),
    # canonical with one object size at every count (128 px at 512^2, so "three hearts" is three copies of
    # the block a single heart is) and captions naming the objects in reading order.
    "reading": SceneStyle(background="plain", rotate=False, shade=False, snap=32,
                          fixed_sizes=(0.25, 0.25, 0.25, 0.25), reading_rows=16),
}
