"""scenes-t2i-demo: the shipped demo model (src/tokenshuffle/assets/demo-model), 512^2 with s=2.

``scenes-t2i`` (dim 256, 6 layers, 32x32 codes -> 256 positions) trained longer, on codes from the
demo tokenizer (runs/vq-scenes-f16-full, see ``configs/vq_scenes_f16_full.py`` for its three stages),
with bf16 autocast, which trains this model ~1.9x faster than fp32 on a CPU with bf16 instructions:

    tokenshuffle encode --vq runs/vq-scenes-f16-full --data data/scenes-6k-512 --out data/codes-6k-512-full
    tokenshuffle encode --vq runs/vq-scenes-f16-full --data data/scenes-heldout-512 --out data/codes-heldout-512-full
    tokenshuffle train --config scenes-t2i-demo --out runs/t2i-demo                  # 5000 steps
    cp -r runs/t2i-demo runs/t2i-demo-cont                                            # then 4000 more,
    tokenshuffle train --config scenes-t2i-demo --out runs/t2i-demo-cont --resume --set num_steps=9000
    tokenshuffle export --run runs/t2i-demo-cont --vq runs/vq-scenes-f16-full --out src/tokenshuffle/assets/demo-model \
        --dtype fp16 --temperature 0.85 --top-k 100

The continuation stretches the cosine schedule to 9000 steps, so at step 5000 the learning rate jumps
from 1e-4 back to ~4.8e-4 and decays to 1e-4 again; that is how the shipped model was trained (its
model card has the times and scores).

(the scene folders come from ``tokenshuffle data scenes``, as in ``lm_scenes_t2i``).
"""

import dataclasses
from pathlib import Path

from tokenshuffle.train.config import load_recipe

BASE = load_recipe(str(Path(__file__).with_name("lm_scenes_t2i.py")))
CONFIG = dataclasses.replace(
    BASE,
    data="data/codes-6k-512-full",
    eval_data="data/codes-heldout-512-full",
    vq="runs/vq-scenes-f16-full",
    precision="bf16",
    num_steps=5000,
    warmup_steps=100,
    eval_every=500,
    ckpt_every=500,
)
