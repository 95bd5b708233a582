"""Stage 2: twice the resolution with Token-Shuffle s=2, initialised from stage 1.

256^2 scenes -> 16x16 codes -> 64 decoder positions (s=2), the same sequence cost per image as
stage 1 had for 8x8 codes at s=1. Decoder, embeddings and output head are carried over from stage
1's final weights; the shuffle/unshuffle MLPs are new (paper Sec. 3.3).

    tokenshuffle train --config scenes-stage2          # needs runs/lm-scenes-stage1
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
