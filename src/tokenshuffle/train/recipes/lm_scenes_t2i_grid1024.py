r"""scenes-t2i-grid1024: the shipped decoder taught 1024² in 4x4 windows beside its 512² in 2x2 windows.

Beyond the paper (``LMConfig.grid_windows``). The paper goes 512² -> 1024² with the same window, so the
decoder sees four times the positions; the first multi-size stage here did that and lost score at 512²
while 1024² stayed far behind (commit 297f3e5). Here a 1024² image (64x64 codes) is drawn in 4x4
windows with its own window modules (``grid_modules.64x64``), so both sizes put the same 16x16 window
grid through the decoder, one position covering the same part of the scene (the layout is in
fractions of the image); the prefix names the 32x32 grid at both. Starts from the step-288 checkpoint of
``scenes-t2i-grid1024-adapt`` (the shipped weights and 288 steps of the new modules alone) and trains
every weight on reading scenes at 512² and 1024², 5000 each, every step one size in proportion. No
z-loss (the paper's last-stage stabiliser): at 1e-4 its term was 0.018 against an image loss of 0.02
nats per code (the logits' logsumexp near 13) in a first try of 40 steps, so it would have become the
objective; this run is stable without it. The data, after the 1024² data of ``scenes-t2i-grid1024-adapt``:

    T=single_object,colors,two_object,two_object,counting,counting,counting,position,position,position,\
color_attr,color_attr,color_attr
    tokenshuffle data scenes --num 5000 --height 512 --width 512 --seed 9000 --style reading --tasks $T \
        --out data/scenes-512x512-reading --workers 2
    tokenshuffle data shards --data data/scenes-512x512-reading --out data/shards-g-reading/512
    tokenshuffle data scenes --num 200 --height 512 --width 512 --seed 90002 --style reading \
        --out data/scenes-heldout-512-reading --workers 2
    tokenshuffle data shards --data data/scenes-heldout-512-reading --out data/shards-heldout-g-reading/512
    # the 1024² shards of the adapt piece copied to data/shards-g-reading/1024 and data/shards-heldout-g-reading/1024
    V=src/tokenshuffle/assets/demo-model/vq
    tokenshuffle encode --vq $V --data 'data/shards-g-reading/*/*.tar' --out data/codes-g-reading \
        --buckets 512,1024 --workers 2
    tokenshuffle encode --vq $V --data 'data/shards-heldout-g-reading/*/*.tar' --out data/codes-heldout-g-reading \
        --buckets 512,1024 --workers 2
    tokenshuffle train --config scenes-t2i-grid1024 --out runs/t2i-grid1024
"""

import dataclasses

from tokenshuffle.train.config import load_recipe

ADAPT = load_recipe("scenes-t2i-grid1024-adapt")
CONFIG = dataclasses.replace(
    ADAPT,
    train_only="",
    data="data/codes-g-reading",
    eval_data="data/codes-heldout-g-reading",
    init_from="runs/t2i-grid1024-adapt/checkpoints/step_00000288",
    height=512,
    width=512,
    seed=9,
    num_steps=900,
    lr=2e-4,
    warmup_steps=30,
)
