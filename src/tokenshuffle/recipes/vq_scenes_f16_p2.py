"""vq-scenes-f16-p2: the demo's downsample-16 tokenizer, grown from the f8 one by a space-to-depth stem.

``vq-8-small`` with ``patch_size=2`` (``tokenshuffle.vq.patching``): 512^2 -> 32x32 codes, the grid
of the shipped 512^2 model. ``init_from`` is the finished f8 tokenizer (``vq_scenes_f8_full``); the
converted stem makes it, before this stage, exactly the f8 tokenizer on the 2x average-pooled image
with a nearest-neighbour 2x upsample. This stage fine-tunes only the decoder on whole 512^2 scenes
(sharper edges at full size) and leaves encoder and codebook alone, so the codes of every image, and
code shards encoded before or after it, are the same:

    tokenshuffle train-vq --config scenes-f8 --out runs/vq-scenes-f8 --threads 2
    tokenshuffle train-vq --config scenes-f8-full --out runs/vq-scenes-f8-full --threads 2
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
