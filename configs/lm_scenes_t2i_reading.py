"""scenes-t2i-reading: the window-head decoder of scenes-t2i-fixed-ar3 on reading-order captions.

In the fixed scenes a prompt such as "a red circle and a blue star" names its two objects in either
order, while a raster-scan decoder must draw one of them first. At the first object it therefore
draws a mixture of two hypotheses (red circle or blue star), and a softmax over codes whose
embeddings add a colour part and a shape part cannot hold that mixture without also giving mass to
the swapped pairs (blue circle, red star): the shipped decoder's log-likelihood of a two-colour scene
differed by 0.05 nats between the caption and its colour-swapped twin (`eval nll --captions swapped`),
and on `val` it bound the colours right in about a third of the colour-attribute images.
``--style fixed-reading`` keeps the fixed scenes and names the two objects of two-object and
colour-attribute captions in reading order (the order the decoder meets them; ``SceneStyle.reading_rows``),
so the first object drawn is always the first one named and each choice is a single one. Position
captions keep both orders: their relation word says which object comes first.

This stage continues the shipped decoder (``init_from``; a fresh optimiser) on 16,000 such scenes,
tasks weighted single 1, colours 1, two objects 2, counting 2, position 3, colour attribute 4:

    tokenshuffle data scenes --num 16000 --height 512 --width 512 --seed 9000 --style fixed-reading \\
        --tasks single_object,colors,two_object,two_object,counting,counting,position,position,position,color_attr,color_attr,color_attr,color_attr \\
        --out data/scenes-16k-512-reading --workers 2
    tokenshuffle data scenes --num 300 --height 512 --width 512 --seed 90002 --style fixed-reading \\
        --out data/scenes-heldout-512-reading
    V=runs/vq-scenes-f16-patch
    tokenshuffle encode --vq $V --data data/scenes-16k-512-reading --out data/codes-16k-512-reading --threads 2
    tokenshuffle encode --vq $V --data data/scenes-heldout-512-reading --out data/codes-heldout-512-reading
    tokenshuffle train --config scenes-t2i-reading --out runs/t2i-reading
    tokenshuffle export --run runs/t2i-reading --vq $V --out src/tokenshuffle/assets/demo-model --dtype fp16 \\
        --guidance-scale 3 --cfg-schedule half-linear --temperature 0.7 --top-k 50 --keep README.md
"""

import dataclasses
from pathlib import Path

from tokenshuffle.train.config import load_recipe

AR3 = load_recipe(str(Path(__file__).with_name("lm_scenes_t2i_fixed_ar3.py")))
CONFIG = dataclasses.replace(
    AR3,
    data="data/codes-16k-512-reading",
    eval_data="data/codes-heldout-512-reading",
    init_from="runs/t2i-fixed-ar3/lm",
    seed=4,
    num_steps=900,
    lr=3e-4,
    warmup_steps=50,
    min_lr_ratio=0.0,
    eval_every=300,
    ckpt_every=150,
    keep_last=6,
)
