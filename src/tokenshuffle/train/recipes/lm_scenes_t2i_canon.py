r"""scenes-t2i-canon: the shipped model's second decoder stage, scenes-t2i-demo continued on canonical scenes.

Starts from ``runs/t2i-demo`` (``init_from``; a fresh optimiser) on 16,000 ``--style canonical`` scenes
(plain grey background, upright unshaded objects, a 1/32 layout grid: the same prompts without the
background that no word informs) encoded by ``vq-scenes-f16-p2``: 1500 steps, lr 5e-4, 100 warm-up
steps, cosine to zero. The shipped chain runs it twice, the second piece from the first one's weights
with the peak at 3e-4:

    tokenshuffle data scenes --num 16000 --height 512 --width 512 --seed 5000 --style canonical \
        --out data/scenes-16k-512-canon --workers 2
    tokenshuffle data scenes --num 300 --height 512 --width 512 --seed 90002 --style canonical \
        --out data/scenes-heldout-512-canon
    V=runs/vq-scenes-f16-p2
    tokenshuffle encode --vq $V --data data/scenes-16k-512-canon --out data/codes-16k-512-canon --precision bf16
    tokenshuffle encode --vq $V --data data/scenes-heldout-512-canon --out data/codes-heldout-512-canon \
        --precision bf16
    tokenshuffle train --config scenes-t2i-canon --out runs/t2i-canon
    tokenshuffle train --config scenes-t2i-canon --out runs/t2i-canon2 --set init_from=runs/t2i-canon --set lr=3e-4

Then ``scenes-t2i-fixed``.
"""

import dataclasses

from tokenshuffle.train.config import load_recipe

DEMO = load_recipe("scenes-t2i-demo")
CONFIG = dataclasses.replace(
    DEMO,
    data="data/codes-16k-512-canon",
    eval_data="data/codes-heldout-512-canon",
    init_from="runs/t2i-demo",
    num_steps=1500,
    lr=5e-4,
    warmup_steps=100,
    min_lr_ratio=0.0,
    eval_every=300,
    ckpt_every=300,
    keep_last=6,
)
