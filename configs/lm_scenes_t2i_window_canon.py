r"""scenes-t2i-window-canon: the README's window-size and same-cost tables, on canonical scenes.

The shipped demo model's decoder (``scenes-t2i-demo``: dim 256, 8 layers, word tokenizer, bf16
autocast, compiled) trained from scratch, the same steps and the same schedule for every row, on the
16,000 canonical scenes of ``scenes-t2i-canon`` encoded by the shipped tokenizer. The window-size
rows are 256^2 (16x16 codes -> 256, 64 and 16 image positions for s = 1, 2, 4); only
``lm.shuffle_window`` changes:

    V=runs/vq-scenes-f16-p2    # the shipped tokenizer: cp -r src/tokenshuffle/assets/demo-model/vq $V
    tokenshuffle data scenes --num 16000 --height 256 --width 256 --seed 5000 --style canonical \\
        --out data/scenes-16k-256-canon --workers 2
    tokenshuffle data scenes --num 500 --height 256 --width 256 --seed 90001 --style canonical \\
        --out data/scenes-heldout-256-canon
    tokenshuffle encode --vq $V --data data/scenes-16k-256-canon --out data/codes-16k-256-canon --precision bf16
    tokenshuffle encode --vq $V --data data/scenes-heldout-256-canon --out data/codes-heldout-256-canon \\
        --precision bf16
    tokenshuffle train --config scenes-t2i-window-canon --out runs/wc-s1 --set lm.shuffle_window=1  # =2, =4
    tokenshuffle export --run runs/wc-s1 --vq $V --out runs/pipe-wc-s1 --height 256 --width 256 \\
        --guidance-scale 3 --cfg-schedule half-linear --temperature 0.85 --top-k 100
    tokenshuffle eval t2i --model runs/pipe-wc-s1 --prompts val --images-per-prompt 4 --batch-size 16

The same-cost row is 512^2 with s=2, the same 256 image positions as 256^2 with s=1, on the same
scenes rendered at 512^2 (``scenes-t2i-canon``'s code shards):

    tokenshuffle train --config scenes-t2i-window-canon --out runs/wc-512-s2 --set height=512 \\
        --set width=512 --set data=data/codes-16k-512-canon --set eval_data=data/codes-heldout-512-canon
"""

import dataclasses
from pathlib import Path

from tokenshuffle.train.config import load_recipe

DEMO = load_recipe(str(Path(__file__).with_name("lm_scenes_t2i_demo.py")))
CONFIG = dataclasses.replace(
    DEMO,
    data="data/codes-16k-256-canon",
    eval_data="data/codes-heldout-256-canon",
    height=256,
    width=256,
    num_steps=1800,
    warmup_steps=100,
    min_lr_ratio=0.0,
    eval_every=300,
    ckpt_every=300,
    keep_last=2,
)
