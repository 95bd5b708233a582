"""vq-scenes-f8-full: the tokenizer's second stage, vq-scenes-f8 fine-tuned on whole 256^2 scenes.

Starts from ``runs/vq-scenes-f8`` (``init_from``) and trains 1200 steps on whole 256^2 scenes, so the
GroupNorm statistics are those of whole images. Scenes are laid out in fractions of the image, so whole
512^2 scenes have the same statistics; a 512^2 step was 8x slower (attention over 64x64 latents). Then
``scenes-f16-p2``:

    tokenshuffle train-vq --config scenes-f8-full --out runs/vq-scenes-f8-full --threads 2
"""

import dataclasses

from tokenshuffle.vq.train_config import load_recipe

BASE = load_recipe("scenes-f8")
CONFIG = dataclasses.replace(
    BASE,
    init_from="runs/vq-scenes-f8",
    image_sizes=(256,),
    crop_size=0,
    batch_size=4,
    num_steps=1200,
    lr=1e-4,
    warmup_steps=20,
    min_lr_ratio=0.1,
    sample_every=400,
    ckpt_every=200,
)
