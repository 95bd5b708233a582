r"""scenes-t2i-grid1024: the shipped 512² decoder taught 1024² through its own 4x4 windows, nothing else changed.

Beyond the paper (``LMConfig.grid_windows``). The paper trains 512² -> 1024² with the same window, so the
decoder sees four times the positions; the first multi-size stage here did that and lost score at 512²
while 1024² stayed far behind (docs/results.md, "Higher resolution"). This stage keeps the decoder's
16x16 window grid instead: a 1024² image (64x64 codes) is drawn in 4x4 windows, each one decoder
position, with its own TokenShuffle, TokenUnshuffle and window head (``grid_modules.64x64``), while the
prefix names the 32x32 grid the decoder was trained on. Only those modules train (``train_only``): the
shipped decoder, embeddings and output do not change, so 512² draws exactly what it did. The new modules
start from the shipped s=2 ones where the shapes agree (``train.build.carry_over``). The scene layout is in
fractions of the image, so a 1024² scene is the 512² scene drawn finer, and one decoder position covers
the same part of the image at both sizes. The data, drawn like the reading stage's scenes:

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
    tokenshuffle train --config scenes-t2i-grid1024 --out runs/t2i-grid1024
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
