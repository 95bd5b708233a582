"""vq-scenes-f16-full: the demo tokenizer's last stage, fine-tuning on whole 256^2 and 512^2 scenes.

The earlier stages (``scenes-f16-fast``, then resumed to 11,000 steps) train on 128^2 crops. GroupNorm
normalises over the whole image, so a tokenizer trained on crops sees other statistics on a whole
scene: at 512^2 it returns objects in the wrong colour or drops them, while the same image cut into
128^2 tiles comes back right. This stage starts from that tokenizer and trains on the whole images,
at the two sizes the demo uses, in bf16 autocast:

    tokenshuffle train-vq --config scenes-f16-fast --out runs/vq-scenes-f16-fast --threads 2
    mkdir -p runs/vq-fast-cont && cp -r runs/vq-scenes-f16-fast/checkpoint runs/vq-fast-cont/
    tokenshuffle train-vq --config scenes-f16-fast --out runs/vq-fast-cont --threads 2 --set num_steps=11000
    tokenshuffle train-vq --config scenes-f16-full --out runs/vq-scenes-f16-full --threads 2
"""

import dataclasses
from pathlib import Path

from tokenshuffle.vq.train_config import load_recipe

BASE = load_recipe(str(Path(__file__).with_name("vq_scenes_f16_fast.py")))
CONFIG = dataclasses.replace(
    BASE,
    init_from="runs/vq-fast-cont",
    image_sizes=(256, 512),
    crop_size=0,
    batch_size=4,
    num_steps=600,
    lr=1e-4,
    warmup_steps=20,
    min_lr_ratio=0.1,
    precision="bf16",
    sample_every=200,
    ckpt_every=200,
)
