"""vq-scenes-f8-full: the f8 tokenizer's second stage, fine-tuning on whole 256^2 scenes.

As ``vq_scenes_f16_full`` does for the f16 tokenizer: GroupNorm statistics of 128^2 crops do not
carry to whole images, so this stage starts from ``runs/vq-scenes-f8`` (the ``vq_scenes_f8`` run) and
trains on whole 256^2 images. Scenes are laid out in fractions of the image, so a whole 512^2 scene has
the same statistics as a whole 256^2 one; training at 512^2 as well was 8x slower per step here (the
attention at 64x64 latents), so this stage trains at 256^2 only:

    tokenshuffle train-vq --config scenes-f8 --out runs/vq-scenes-f8 --threads 2
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
