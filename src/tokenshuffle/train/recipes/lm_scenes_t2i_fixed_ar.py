"""scenes-t2i-fixed-ar: the shipped model's fourth decoder stage, scenes-t2i-fixed with the window head.

``lm.window_ar`` adds the window head (``WindowAR``) after TokenUnshuffle: code j of a 2x2 window also
sees codes 0..j-1 of it, so the four codes of a window are drawn one after another instead of
independently (independent draws mixed background, two objects or two colours in one window). It
starts as the identity, so this stage continues ``runs/t2i-fixed/checkpoints/step_00001250`` with every
weight carried over, on the same scenes and codes: 1300 steps, lr 4e-4, 50 warm-up steps, cosine to
zero. Then ``scenes-t2i-fixed-ar2``:

    tokenshuffle train --config scenes-t2i-fixed-ar --out runs/t2i-fixed-ar
"""

import dataclasses

from tokenshuffle.train.config import load_recipe

FIXED = load_recipe("scenes-t2i-fixed")
CONFIG = dataclasses.replace(
    FIXED,
    lm=dataclasses.replace(FIXED.lm, window_ar=True),
    init_from="runs/t2i-fixed/checkpoints/step_00001250",
    num_steps=1300,
    lr=4e-4,
    warmup_steps=50,
    min_lr_ratio=0.0,
    eval_every=500,
    ckpt_every=250,
    keep_last=4,
)
