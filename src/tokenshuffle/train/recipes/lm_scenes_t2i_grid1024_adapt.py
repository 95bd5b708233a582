r"""scenes-t2i-grid1024-adapt: the first piece of the 1024² stage, new window modules on a frozen decoder.

Beyond the paper (``LMConfig.grid_windows``): a 1024² image (64x64 codes) is drawn in 4x4 windows, so the
shipped decoder sees the 16x16 window grid it was trained on at 512², with its own TokenShuffle,
TokenUnshuffle and window head (``grid_modules.64x64``, started from the shipped s=2 ones where the
shapes agree); the prefix names the 32x32 grid. The scene layout is in fractions of the image, so one
decoder position covers the same part of the scene at both sizes. This piece trains only those modules
(``train_only``): the decoder, embeddings and output stay the shipped ones. It was stopped at step 288
(held-out 0.117 bits per code, sampled 1024² images nearly empty: a frozen decoder does not carry the
finer codes), and ``scenes-t2i-grid1024`` goes on from that checkpoint with every weight training. The data:

    T=single_object,colors,two_object,two_object,counting,counting,counting,position,position,position,\
color_attr,color_attr,color_attr
    tokenshuffle data scenes --num 5000 --height 1024 --width 1024 --seed 11000 --style reading --tasks $T \
        --out data/scenes-1024x1024-reading --workers 2
    tokenshuffle data shards --data data/scenes-1024x1024-reading --out data/shards-1024-reading
    tokenshuffle data scenes --num 200 --height 1024 --width 1024 --seed 90003 --style reading \
        --out data/scenes-heldout-1024-reading --workers 2
    tokenshuffle data shards --data data/scenes-heldout-1024-reading --out data/shards-heldout-1024-reading
    V=src/tokenshuffle/assets/demo-model/vq
    tokenshuffle encode --vq $V --data 'data/shards-1024-reading/*.tar' --out data/codes-1024-reading \
        --buckets 1024 --workers 2
    tokenshuffle encode --vq $V --data 'data/shards-heldout-1024-reading/*.tar' \
        --out data/codes-heldout-1024-reading --buckets 1024 --workers 2
    tokenshuffle train --config scenes-t2i-grid1024-adapt --out runs/t2i-grid1024-adapt   # stopped at step 288
"""

import dataclasses

from tokenshuffle.train.config import load_recipe

READING = load_recipe("scenes-t2i-reading")
CONFIG = dataclasses.replace(
    READING,
    lm=dataclasses.replace(READING.lm, grid_windows=((64, 64, 4),)),
    train_only="grid_modules.",
    data="data/codes-1024-reading",
    eval_data="data/codes-heldout-1024-reading",
    vq="src/tokenshuffle/assets/demo-model/vq",
    text_tokenizer="src/tokenshuffle/assets/demo-model/text_tokenizer.json",
    init_from="src/tokenshuffle/assets/demo-model/lm",
    height=1024,
    width=1024,
    seed=7,
    num_steps=1000,
    batch_size=8,
    lr=1e-3,
    warmup_steps=30,
    min_lr_ratio=0.0,
    precision="bf16",
    compile=False,
    num_eval_samples=64,
    eval_every=250,
    ckpt_every=100,
    keep_last=3,
)
