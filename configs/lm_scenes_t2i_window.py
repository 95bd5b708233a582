r"""scenes-t2i-window: the README's window-size table, 256^2 with s = 1, 2, 4 and nothing else changed.

``scenes-t2i`` (dim 256, 6 layers, batch 16) at 256^2 on codes from ``runs/vq-scenes-f16-full`` (the
previous demo model's tokenizer; ``configs/vq_scenes_f16_full.py`` has its three stages), bf16 autocast,
2500 steps. Only ``lm.shuffle_window`` changes between rows (16x16 codes -> 256, 64 and 16 image
positions):

    V=runs/vq-scenes-f16-full
    tokenshuffle data scenes --num 6000 --height 256 --width 256 --seed 5000 --out data/scenes-6k-256
    tokenshuffle data scenes --num 500 --height 256 --width 256 --seed 90001 --out data/scenes-heldout-256
    tokenshuffle encode --vq $V --data data/scenes-6k-256 --out data/codes-6k-256-full
    tokenshuffle encode --vq $V --data data/scenes-heldout-256 --out data/codes-heldout-256-full
    tokenshuffle train --config scenes-t2i-window --out runs/win-s1 --set lm.shuffle_window=1   # and =2, =4
    tokenshuffle export --run runs/win-s1 --vq $V --out runs/pipe-win-s1 --height 256 --width 256 \
        --guidance-scale 7.5 --cfg-schedule half-linear --temperature 0.85 --top-k 100
    tokenshuffle eval t2i --model runs/pipe-win-s1 --prompts val --images-per-prompt 4 --batch-size 16

The same-cost row of the README (512^2, s=2, the same 256 image positions as 256^2 with s=1) is this
recipe with ``--set height=512 --set width=512 --set lm.shuffle_window=2`` and the 512^2 code shards
(``--set data=data/codes-6k-512-full --set eval_data=data/codes-heldout-512-full``).
"""

import dataclasses
from pathlib import Path

from tokenshuffle.train.config import load_recipe

BASE = load_recipe(str(Path(__file__).with_name("lm_scenes_t2i.py")))
CONFIG = dataclasses.replace(
    BASE,
    data="data/codes-6k-256-full",
    eval_data="data/codes-heldout-256-full",
    vq="runs/vq-scenes-f16-full",
    height=256,
    width=256,
    precision="bf16",
    num_steps=2500,
    warmup_steps=100,
    eval_every=500,
    ckpt_every=500,
)
