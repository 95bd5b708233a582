"""scenes-t2i-reading2: a second piece on reading scenes, from the first piece's final weights.

``scenes-t2i-reading`` made one pass over its 24,000 scenes and its held-out bits were still falling
(0.0192, 0.0175, 0.0170 after 500, 1000, 1500 steps). This piece continues its weights (a fresh
optimiser and cosine) on 24,000 new reading scenes of another seed, the same task weights:

    T=single_object,colors,two_object,two_object,counting,counting,counting,position,position,position,\
color_attr,color_attr,color_attr
    tokenshuffle data scenes --num 24000 --height 512 --width 512 --seed 9100 --style reading --tasks $T \
        --out data/scenes-24k-512-reading2 --workers 2
    tokenshuffle encode --vq runs/vq-scenes-f16-patch --data data/scenes-24k-512-reading2 \
        --out data/codes-24k-512-reading2 --threads 2
    tokenshuffle train --config scenes-t2i-reading2 --out runs/t2i-reading2

Measured on a 2-core Intel Xeon VM (AVX-512, AMX; fp32, compiled): rendering 1.9 min, encoding
4.3 min, training 33 min (about 10 images/s). Held-out bits per code on the reading scenes 0.0178 / 0.0171 / 0.0168 after
400 / 800 / 1200 steps (the first piece ended at 0.0170). On `val` with the shipped pipeline settings
and best of 4 (`tokenshuffle eval t2i --model PIPE --prompts val --images-per-prompt 4 --batch-size 4
--candidates 4`): single 0.875, two 0.975, counting 0.375, colours 0.925, position 0.619, colour
attribute 0.694, overall 0.744 and 561 of 792 images right, against 0.753 and 557 for the first
piece: equal within noise (position up 14 images, counting down 4), so it was not shipped.
"""

import dataclasses
from pathlib import Path

from tokenshuffle.train.config import load_recipe

READING = load_recipe(str(Path(__file__).with_name("lm_scenes_t2i_reading.py")))
CONFIG = dataclasses.replace(
    READING,
    data="data/codes-24k-512-reading2",
    init_from="runs/t2i-reading/lm",
    seed=5,
    num_steps=1200,
    lr=2e-4,
    eval_every=400,
    ckpt_every=400,
)
