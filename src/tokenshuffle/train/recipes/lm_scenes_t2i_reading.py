r"""scenes-t2i-reading: the shipped decoder, scenes-t2i-fixed-ar3 continued on reading scenes.

``--style reading``: every object 128 px at every count, and "A and B" and left/right captions name the
two objects in the order a raster scan meets them ("above"/"below" keep both phrasings; the word says
which comes first), so at the first object the decoder never has to draw from a mixture of two
hypotheses. Starts from ``runs/t2i-fixed-ar3/lm`` (``init_from``; a fresh optimiser) on 24,000 such
scenes, tasks weighted single 1, colours 1, two objects 2, counting 3, position 3, colour attribute 3:
1500 steps (one pass), lr 3e-4, 50 warm-up steps, cosine to zero, data order seed 4, fp32. With the
export that wrote the shipped folder:

    T=single_object,colors,two_object,two_object,counting,counting,counting,position,position,position,\
color_attr,color_attr,color_attr
    tokenshuffle data scenes --num 24000 --height 512 --width 512 --seed 9000 --style reading --tasks $T \
        --out data/scenes-24k-512-reading --workers 2
    tokenshuffle data scenes --num 300 --height 512 --width 512 --seed 90002 --style reading \
        --out data/scenes-heldout-512-reading
    V=runs/vq-scenes-f16-patch
    tokenshuffle encode --vq $V --data data/scenes-24k-512-reading --out data/codes-24k-512-reading --threads 2
    tokenshuffle encode --vq $V --data data/scenes-heldout-512-reading --out data/codes-heldout-512-reading
    tokenshuffle train --config scenes-t2i-reading --out runs/t2i-reading
    tokenshuffle export --run runs/t2i-reading --vq $V --out src/tokenshuffle/assets/demo-model --dtype fp16 \
        --guidance-scale 3 --cfg-schedule half-linear --temperature 0.7 --top-k 50 --candidates 4 --keep README.md

docs/results.md has its scores, docs/reproduce.md the whole chain.
"""

import dataclasses

from tokenshuffle.train.config import load_recipe

AR3 = load_recipe("scenes-t2i-fixed-ar3")
CONFIG = dataclasses.replace(
    AR3,
    data="data/codes-24k-512-reading",
    eval_data="data/codes-heldout-512-reading",
    init_from="runs/t2i-fixed-ar3/lm",
    seed=4,
    num_steps=1500,
    lr=3e-4,
    warmup_steps=50,
    min_lr_ratio=0.0,
    eval_every=500,
    ckpt_every=250,
    keep_last=6,
)
