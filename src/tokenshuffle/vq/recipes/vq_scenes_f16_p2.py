"""vq-scenes-f16-p2: the tokenizer's third stage, downsample 16 by a 2x2 space-to-depth stem on the f8 one.

``vq-8-small`` with ``patch_size=2`` (``tokenshuffle.vq.patching``): 512^2 -> 32x32 codes. Starts from
``runs/vq-scenes-f8-full`` (``init_from``), converted so that it is exactly the f8 tokenizer on the 2x
average-pooled image followed by a nearest-neighbour 2x upsample, and fine-tunes only the decoder on
whole 512^2 scenes (``train_parts="decoder"``, 600 steps). Encoder and codebook stay frozen, so every
image's codes, and code shards encoded before or after this stage, are the same. Then
``scenes-f16-patch``:

    tokenshuffle train-vq --config scenes-f16-p2 --out runs/vq-scenes-f16-p2 --threads 2
"""

import dataclasses

from tokenshuffle.vq.config import VQConfig
from tokenshuffle.vq.train_config import load_recipe

BASE = load_recipe("scenes-f8-full")
CONFIG = dataclasses.replace(
    BASE,
    vq=VQConfig.preset("vq-8-small", patch_size=2),
    init_from="runs/vq-scenes-f8-full",
    train_parts="decoder",
    image_sizes=(512,),
    crop_size=0,
    batch_size=4,
    num_steps=600,
    lr=1e-4,
    warmup_steps=20,
    min_lr_ratio=0.1,
    sample_every=200,
    ckpt_every=200,
)
