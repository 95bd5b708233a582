"""scenes-t2i-fixed-ar2: the window-head decoder of scenes-t2i-fixed-ar trained for 1800 more steps.

``scenes-t2i-fixed-ar`` ended its cosine at step 1300 with the held-out bits still falling slowly
(0.0252 at 1000, 0.0246 at 1300) and the tuning-prompt score still rising with steps (0.267 at 250,
0.358 at 500, 0.542 at 1000). This stage continues its final weights (``init_from`` its ``lm/``; a
fresh optimiser) on the same scenes and codes with a new warm-up and cosine, 28,800 images at
batch 16 (0.72 of a pass over the 40,000 scenes):

    tokenshuffle train --config scenes-t2i-fixed-ar2 --out runs/t2i-fixed-ar2

This run's model was shipped for a while (held-out score 0.462); the shipped model continues it with
``scenes-t2i-fixed-ar3`` (its docstring has the export command).
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
