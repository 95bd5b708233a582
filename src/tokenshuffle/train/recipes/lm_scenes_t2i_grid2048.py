r"""scenes-t2i-grid2048: ``scenes-t2i-grid1024`` taught 2048² through 8x8 windows, nothing else changed.

The same idea one size up (``LMConfig.grid_windows``): a 2048² image (128x128 codes) is drawn in 8x8
windows, so the shipped decoder again sees its 16x16 window grid, with its own TokenShuffle,
TokenUnshuffle and window head (``grid_modules.128x128``; they start from the shipped s=2 ones where the
shapes agree). Only those train: 512² and 1024² draw exactly what they did. The data:

    T=single_object,colors,two_object,two_object,counting,counting,counting,position,position,position,\
color_attr,color_attr,color_attr
    tokenshuffle data scenes --num 2000 --height 2048 --width 2048 --seed 12000 --style reading --tasks $T \
        --out data/scenes-2048x2048-reading --workers 2
    tokenshuffle data shards --data data/scenes-2048x2048-reading --out data/shards-2048-reading
    tokenshuffle data scenes --num 100 --height 2048 --width 2048 --seed 90006 --style reading \
        --out data/scenes-heldout-2048-reading --workers 2
    tokenshuffle data shards --data data/scenes-heldout-2048-reading --out data/shards-heldout-2048-reading
    V=src/tokenshuffle/assets/demo-model/vq
    tokenshuffle encode --vq $V --data 'data/shards-2048-reading/*.tar' --out data/codes-2048-reading \
        --buckets 2048 --workers 2
    tokenshuffle encode --vq $V --data 'data/shards-heldout-2048-reading/*.tar' \
        --out data/codes-heldout-2048-reading --buckets 2048 --workers 2
    tokenshuffle train --config scenes-t2i-grid2048 --out runs/t2i-grid2048
"""

import dataclasses

from tokenshuffle.train.config import load_recipe

GRID1024 = load_recipe("scenes-t2i-grid1024")
CONFIG = dataclasses.replace(
    GRID1024,
    lm=dataclasses.replace(GRID1024.lm, grid_windows=((64, 64, 4), (128, 128, 8))),
    train_only="grid_modules.128x128.",
    data="data/codes-2048-reading",
    eval_data="data/codes-heldout-2048-reading",
    init_from="runs/t2i-grid1024",
    height=2048,
    width=2048,
    seed=8,
    num_steps=600,
    batch_size=4,
    num_eval_samples=32,
    eval_every=200,
)
