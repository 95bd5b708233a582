"""scenes-stage2: stage 2 of the staged recipe: twice the resolution with Token-Shuffle s=2, from stage 1.

256^2 scenes -> 16x16 codes -> 64 decoder positions at s=2, the sequence cost per image that stage 1
had at s=1. Decoder, embeddings and output head carry over from ``runs/lm-scenes-stage1``
(``init_from``); the shuffle and unshuffle MLPs are new (paper Sec. 3.3). 3000 steps, lr 5e-4:

    tokenshuffle train --config scenes-stage2 --out runs/lm-scenes-stage2
"""

import dataclasses

from tokenshuffle.train.config import TrainConfig, load_recipe

STAGE1 = load_recipe("scenes-stage1")

CONFIG: TrainConfig = dataclasses.replace(
    STAGE1,
    lm=dataclasses.replace(STAGE1.lm, shuffle_window=2),
    init_from="runs/lm-scenes-stage1",
    height=256,
    width=256,
    num_steps=3000,
    lr=5e-4,
    warmup_steps=100,
)
