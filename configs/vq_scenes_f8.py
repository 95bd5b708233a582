"""vq-scenes-f8: the shipped tokenizer's first stage, a downsample-8 tokenizer trained on 128^2 crops.

vq-8-small (LlamaGen's VQ-8 layout with 16 base channels, one residual block per level, a 1024 x 8
l2-normalised codebook; 256^2 -> 32x32 codes), from scratch on 128^2 crops of textured synthetic scenes
rendered on the fly, 5000 steps, bf16 autocast. After this stage alone whole images come back blotchy
(GroupNorm statistics of crops do not carry to whole images); ``scenes-f8-full`` fixes that, then
``scenes-f16-p2`` and ``scenes-f16-patch`` follow (docs/reproduce.md has the whole chain):

    tokenshuffle train-vq --config scenes-f8 --out runs/vq-scenes-f8 --threads 2
"""

import dataclasses
from pathlib import Path

from tokenshuffle.vq.config import VQConfig
from tokenshuffle.vq.train_config import load_recipe

BASE = load_recipe(str(Path(__file__).with_name("vq_scenes_f16_fast.py")))
CONFIG = dataclasses.replace(
    BASE,
    vq=VQConfig.preset("vq-8-small"),
    num_steps=5000,
    precision="bf16",
    sample_every=1000,
    ckpt_every=500,
)
