"""scenes-t2i-canon: the shipped demo model's last stage, scenes-t2i-demo fine-tuned on canonical scenes.

The same decoder, tokenizer and word vocabulary as ``scenes-t2i-demo``, started from that run's
weights (``init_from``; a fresh optimiser) and trained on scenes drawn with ``--style canonical``:
the same prompts and objects, but a plain grey background, upright unshaded objects and a layout on
a 1/32 grid (``tokenshuffle/data/scene_style.py``). On the textured scenes about 80 % of the
parent's held-out bits went to background codes that no prompt word informs; here the background
is nearly one code and the model's capacity goes to the objects. From the repository root, after the
scenes-t2i-demo path (its docstring):

    tokenshuffle data scenes --num 16000 --height 512 --width 512 --seed 5000 --style canonical \\
        --out data/scenes-16k-512-canon --workers 2
    tokenshuffle data scenes --num 300 --height 512 --width 512 --seed 90002 --style canonical \\
        --out data/scenes-heldout-512-canon
    V=runs/vq-scenes-f16-p2
    tokenshuffle encode --vq $V --data data/scenes-16k-512-canon --out data/codes-16k-512-canon --precision bf16
    tokenshuffle encode --vq $V --data data/scenes-heldout-512-canon --out data/codes-heldout-512-canon \\
        --precision bf16
    tokenshuffle train --config scenes-t2i-canon --out runs/t2i-canon
    # the shipped model then ran a second piece from that run's weights (fresh optimiser, lower peak)
    tokenshuffle train --config scenes-t2i-canon --out runs/t2i-canon2 --set init_from=runs/t2i-canon \\
        --set lr=3e-4
    tokenshuffle export --run runs/t2i-canon2 --vq $V --out src/tokenshuffle/assets/demo-model --dtype fp16 \\
        --guidance-scale 3 --cfg-schedule half-linear --temperature 0.85 --top-k 100

The model card (src/tokenshuffle/assets/demo-model/README.md) has the times, hardware and scores.
"""

import dataclasses

from tokenshuffle.train.config import load_recipe

DEMO = load_recipe("scenes-t2i-demo")
CONFIG = dataclasses.replace(
    DEMO,
    data="data/codes-16k-512-canon",
    eval_data="data/codes-heldout-512-canon",
    init_from="runs/t2i-demo",
    num_steps=1500,
    lr=5e-4,
    warmup_steps=100,
    min_lr_ratio=0.0,
    eval_every=300,
    ckpt_every=300,
    keep_last=6,
)
