r"""scenes-t2i-hires-more: the high-resolution decoder trained on 30,000 new scenes.

Starts from ``runs/t2i-hires2`` (``scenes-t2i-hires`` run twice on its grid chain; shipped at commit
eec3084). Its 1024² path had seen the same 5,000 1024² scenes about ten times each (some 6,700 steps at
batch 8), the 2:1 sizes 2,500 scenes each, against one pass over 24,000 for the 512² decoder's last
stage, and it drew held-out prompts worse than the 512² path while its held-out bits per image were
about the same (19 against 18). So this stage trains the same modules (``grid_modules``; the 512² path
stays bit-identical), with ``scenes-t2i-hires``'s schedule, on new reading scenes (none of the earlier
high-resolution stages'): 18,000 at 1024² and 6,000 at each 2:1 size, 1024² weighted like the two 2:1
sizes together:

    T=single_object,colors,two_object,two_object,counting,counting,counting,position,position,position,\
color_attr,color_attr,color_attr
    tokenshuffle data scenes --num 18000 --height 1024 --width 1024 --seed 40000 --style reading --tasks $T \
        --out data/scenes-1024-reading-18k --workers 2
    tokenshuffle data scenes --num 6000 --height 512 --width 1024 --seed 60000 --style reading --tasks $T \
        --out data/scenes-1024x512-reading-6k --workers 2
    tokenshuffle data scenes --num 6000 --height 1024 --width 512 --seed 70000 --style reading --tasks $T \
        --out data/scenes-512x1024-reading-6k --workers 2
    tokenshuffle data shards --data data/scenes-1024-reading-18k --out data/shards-hires-reading-big/1024
    tokenshuffle data shards --data data/scenes-1024x512-reading-6k --out data/shards-hires-reading-big/1024x512
    tokenshuffle data shards --data data/scenes-512x1024-reading-6k --out data/shards-hires-reading-big/512x1024
    tokenshuffle encode --vq src/tokenshuffle/assets/demo-model/vq --data 'data/shards-hires-reading-big/*/*.tar' \
        --out data/codes-hires-reading-big --buckets 1024,1024x512,512x1024 --workers 2
    tokenshuffle train --config scenes-t2i-hires-more --out runs/t2i-hires-more     # 50 min on the Intel VM

The held-out codes are ``scenes-t2i-hires``'s (seeds 90003-90005, 200 scenes per size).
"""

import dataclasses

from tokenshuffle.train.config import load_recipe

HIRES = load_recipe("scenes-t2i-hires")
CONFIG = dataclasses.replace(
    HIRES,
    init_from="runs/t2i-hires2",
    data="data/codes-hires-reading-big",
    bucket_weights="32x64=1.5,64x32=1.5",
    seed=17,
    eval_every=600,
)
