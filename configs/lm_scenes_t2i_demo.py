"""scenes-t2i-demo: the shipped demo model (src/tokenshuffle/assets/demo-model), 512^2 with s=2.

``scenes-t2i`` (dim 256, 6 layers, 32x32 codes -> 256 positions) trained longer, on codes from the
longer-trained tokenizer (runs/vq-fast-cont: ``scenes-f16-fast`` resumed to 11,000 steps), with bf16
autocast, which trains this model ~1.9x faster than fp32 on a CPU with bf16 instructions:

    tokenshuffle train-vq --config scenes-f16-fast --out runs/vq-scenes-f16-fast --threads 2
    mkdir -p runs/vq-fast-cont && cp -r runs/vq-scenes-f16-fast/checkpoint runs/vq-fast-cont/
    tokenshuffle train-vq --config scenes-f16-fast --out runs/vq-fast-cont --threads 2 --set num_steps=11000
    tokenshuffle encode --vq runs/vq-fast-cont --data data/scenes-6k-512 --out data/codes-6k-512-cont
    tokenshuffle encode --vq runs/vq-fast-cont --data data/scenes-heldout-512 --out data/codes-heldout-512-cont
    tokenshuffle train --config scenes-t2i-demo --out runs/t2i-demo
    tokenshuffle export --run runs/t2i-demo --vq runs/vq-fast-cont --out src/tokenshuffle/assets/demo-model --dtype fp16

(the scene folders come from ``tokenshuffle data scenes``, as in ``lm_scenes_t2i``).
"""

import dataclasses
from pathlib import Path

from tokenshuffle.train.config import load_recipe

BASE = load_recipe(str(Path(__file__).with_name("lm_scenes_t2i.py")))
CONFIG = dataclasses.replace(
    BASE,
    data="data/codes-6k-512-cont",
    eval_data="data/codes-heldout-512-cont",
    vq="runs/vq-fast-cont",
    precision="bf16",
    num_steps=5000,
    warmup_steps=100,
    eval_every=500,
    ckpt_every=500,
)
