r"""scenes-t2i-2048: 2048² on the high-resolution decoder, beside 1024², 1024x512 and 512x1024.

Beyond the paper (``LMConfig.grid_shared_decoder``). Starts from the shipped model (``scenes-t2i-hires``:
the 512² LM, and one decoder for 1024² and the 2:1 sizes) and adds the 2048² grid (128x128 codes) in 8x8
windows: again 16x16 decoder positions, each covering the part of the scene a 1024² 4x4 window covers,
with its own TokenShuffle, TokenUnshuffle and window head (64 codes a window) on the 1024² path's decoder,
embeddings and output. Only those modules train (``train_only``), on 2048² reading scenes alone (the
other buckets of the folder weigh 0): 512², 1024² and the 2:1 sizes stay bit-identical. A first try
trained every ``grid_modules`` weight on the four sizes (lr 1.5e-4), and in 450 steps the shared decoder lost held-out
bits at the older sizes (1024² 0.0052 -> 0.0068, 1024x512 0.0126 -> 0.0178) while 2048² was at 0.106. The data
(the shards of ``scenes-t2i-hires`` and 2048² scenes beside them):

    T=single_object,colors,two_object,two_object,counting,counting,counting,position,position,position,\
color_attr,color_attr,color_attr
    tokenshuffle data scenes --num 2500 --height 2048 --width 2048 --seed 14000 --style reading --tasks $T \
        --out data/scenes-2048x2048-reading --workers 2                                      # 8 min
    tokenshuffle data scenes --num 100 --height 2048 --width 2048 --seed 90006 --style reading \
        --out data/scenes-heldout-2048-reading --workers 2
    tokenshuffle data shards --data data/scenes-2048x2048-reading --out data/shards-hires-reading/2048
    tokenshuffle data shards --data data/scenes-heldout-2048-reading --out data/shards-heldout-hires-reading/2048
    V=src/tokenshuffle/assets/demo-model/vq
    B=1024,1024x512,512x1024,2048
    tokenshuffle encode --vq $V --data 'data/shards-hires-reading/*/*.tar' --out data/codes-ladder-reading \
        --buckets $B --workers 2
    tokenshuffle encode --vq $V --data 'data/shards-heldout-hires-reading/*/*.tar' \
        --out data/codes-heldout-ladder-reading --buckets $B --workers 2
    tokenshuffle train --config scenes-t2i-2048 --out runs/t2i-2048c                  # 47 min, 400 steps

Result (not shipped): held-out 0.056 bits per code at 2048² after 400 steps (64 scenes; 1024² 0.0052), and
the samples are empty grey at T 0.7 and window-sized patches of unrelated colours at T 1.0: through the
4 features a code gets of its position (dim 256 / 64) the frozen decoder's state does not reach the codes.
"""

import dataclasses

from tokenshuffle.train.config import load_recipe

HIRES = load_recipe("scenes-t2i-hires")
CONFIG = dataclasses.replace(
    HIRES,
    lm=dataclasses.replace(
        HIRES.lm,
        grid_windows=HIRES.lm.grid_windows + ((128, 128, 8),),
        grid_shared_decoder=HIRES.lm.grid_shared_decoder + ((128, 128, 64, 64),),
    ),
    init_from="src/tokenshuffle/assets/demo-model/lm",
    data="data/codes-ladder-reading",
    eval_data="data/codes-heldout-ladder-reading",
    train_only="grid_modules.128x128.",
    bucket_weights="64x64=0,32x64=0,64x32=0",
    seed=17,
    num_steps=400,
    lr=1e-3,
    warmup_steps=30,
    min_lr_ratio=0.1,
    eval_every=400,
    ckpt_every=100,
)
