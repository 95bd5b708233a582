"""Does the scene evaluator measure what it claims? Score ground-truth renders three ways.

``clean``: renders straight from the scene generator (should score ~1); ``degraded``: a Gaussian blur
of radius width/256 then JPEG quality 75 (a mild tokenizer-like loss; should still pass); ``shuffled``:
the same images paired with the wrong metadata by a fixed permutation (should fail).
"""

from __future__ import annotations

import io
import random

from PIL import Image, ImageFilter

from tokenshuffle.data.scene_render import render_scene
from tokenshuffle.data.scenes import SceneDataset
from tokenshuffle.errors import check_range
from tokenshuffle.eval.scenes import evaluate


def degrade(image: Image.Image) -> Image.Image:
    image = image.filter(ImageFilter.GaussianBlur(radius=image.width / 256))
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=75)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def check_evaluator(*, num: int, sizes: tuple[int, ...], seed: int = 123) -> dict:
    """{size: {"clean"|"degraded"|"shuffled": evaluate() summary without per-image rows}}."""
    check_range("num", num, low=2)
    for size in sizes:
        check_range("size", size, low=64, high=2048)
    dataset = SceneDataset(height=256, width=256, seed=seed)
    specs = [dataset.spec(i) for i in range(num)]
    metadata = [s.metadata for s in specs]
    perm = list(range(num))
    random.Random(seed).shuffle(perm)
    out = {}
    for size in sizes:
        images = [render_scene(s, height=size, width=size) for s in specs]
        variants = {"clean": images, "degraded": [degrade(im) for im in images],
                    "shuffled": [images[p] for p in perm]}
        out[size] = {}
        for name, imgs in variants.items():
            result = evaluate(imgs, metadata)
            out[size][name] = {k: result[k] for k in ("overall", "per_task", "num_images", "num_correct")}
    return out
