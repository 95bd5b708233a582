"""scenes-t2i-fixed-ar2: the window-head decoder of scenes-t2i-fixed-ar, 1800 more steps.

Starts from ``runs/t2i-fixed-ar/lm`` (``init_from``; a fresh optimiser) on the same scenes and codes,
with a new warm-up and cosine: lr 3e-4, 50 warm-up steps, cosine to zero. Then
``scenes-t2i-fixed-ar3``:

    tokenshuffle train --config scenes-t2i-fixed-ar2 --out runs/t2i-fixed-ar2
"""

import dataclasses

from tokenshuffle.train.config import load_recipe

AR = load_recipe("scenes-t2i-fixed-ar")
CONFIG = dataclasses.replace(
    AR,
    init_from="runs/t2i-fixed-ar/lm",
    num_steps=1800,
    lr=3e-4,
    warmup_steps=50,
    min_lr_ratio=0.0,
    eval_every=600,
    ckpt_every=300,
    keep_last=3,
)
