r"""scenes-t2i-hires-fresh: the high-resolution decoder on 36,000 further new scenes, a third at each size.

Follows ``scenes-t2i-hires-more`` (its ``runs/t2i-hires-more``), whose 2:1 and 1:2 held-out bits were
still falling when it stopped while the 1024² grid's had levelled. The same modules train
(``grid_modules``; the 512² path stays bit-identical), at the same learning rate over 3000 steps, on
reading scenes none of the earlier stages drew: 12,000 at each of 1024², 1024x512 and 512x1024, each
size a third of the steps.

    T=single_object,colors,two_object,two_object,counting,counting,counting,position,position,position,\
color_attr,color_attr,color_attr
    tokenshuffle data scenes --num 12000 --height 512 --width 1024 --seed 61000 --style reading --tasks $T \
        --out data/scenes-1024x512-reading-12k --workers 2
    tokenshuffle data scenes --num 12000 --height 1024 --width 512 --seed 71000 --style reading --tasks $T \
        --out data/scenes-512x1024-reading-12k --workers 2
    tokenshuffle data scenes --num 12000 --height 1024 --width 1024 --seed 41000 --style reading --tasks $T \
        --out data/scenes-1024-reading-12k --workers 2
    for S in 1024 1024x512 512x1024; do
        tokenshuffle data shards --data data/scenes-$S-reading-12k --out data/shards-hires-reading-3/$S
    done
    tokenshuffle encode --vq src/tokenshuffle/assets/demo-model/vq --data 'data/shards-hires-reading-3/*/*.tar' \
        --out data/codes-hires-reading-3 --buckets 1024,1024x512,512x1024 --workers 2
    tokenshuffle train --config scenes-t2i-hires-fresh --out runs/t2i-hires-fresh   # 50 min on the Intel VM

The held-out codes are ``scenes-t2i-hires``'s (seeds 90003-90005, 200 scenes per size).
"""

import dataclasses

from tokenshuffle.train.config import load_recipe

MORE = load_recipe("scenes-t2i-hires-more")
CONFIG = dataclasses.replace(
    MORE,
    init_from="runs/t2i-hires-more",
    data="data/codes-hires-reading-3",
    bucket_weights="",
    seed=18,
    num_steps=3000,
)
