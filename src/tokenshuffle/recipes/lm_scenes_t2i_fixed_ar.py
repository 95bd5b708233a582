"""scenes-t2i-fixed-ar: the shipped demo model's last stage, the fixed-scene decoder with the window head.

Token-Shuffle draws the four codes of a 2x2 window together, each from its own marginal. On ``fixed``
scenes every window of a real image is one of a closed set (2,900 distinct windows in 8,000 training
scenes; none of the 8,936 object windows of the 300 held-out scenes is outside it), yet 80 of 294
object windows that the ``scenes-t2i-fixed`` decoder sampled (step 1000) were windows no scene has:
where an object starts, or where either of two named objects may, the four independent draws mix
background, two objects or two colours in one window, and the decoder continues from that chimera.
``lm.window_ar`` adds ``modules.WindowAR`` after TokenUnshuffle: code j of a window also sees codes
0..j-1 of it (one causal attention layer over the window, teacher-forced in training, drawn one code
after another in decoding; the decoder still runs once per window). It starts as the identity, so this
stage continues the ``scenes-t2i-fixed`` run from its step-1250 checkpoint (where that run was stopped)
with every weight carried over, on the same scenes and codes:

    tokenshuffle train --config scenes-t2i-fixed --out runs/t2i-fixed      # stopped after step 1250
    tokenshuffle train --config scenes-t2i-fixed-ar --out runs/t2i-fixed-ar

This run's model was shipped for a while (held-out score 0.397); the shipped model now continues it
with ``scenes-t2i-fixed-ar2`` (its docstring has the export command).

The model card (src/tokenshuffle/assets/demo-model/README.md) has the times, hardware, sampling
settings and scores.
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
