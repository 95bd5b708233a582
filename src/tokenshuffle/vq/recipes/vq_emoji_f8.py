"""vq-emoji-f8: the emoji model's tokenizer, downsample 8 on 64^2 emoji and clipart (8x8 codes).

``scenes-f8`` (vq-8-small: 16 base channels, one residual block per level, a 1024 x 8 l2-normalised
codebook; its optimiser, code restarts and bf16 autocast) from scratch on whole 64^2 images of the
training split of ``tokenshuffle data emoji`` (no crops: the images are small), batch 32, 4000 steps.
docs/train-on-your-data.md has the chain:

    tokenshuffle data emoji --out data/emoji-64 --size 64
    tokenshuffle data split --data data/emoji-64 --train data/emoji-64-train --heldout data/emoji-64-heldout --by name
    tokenshuffle train-vq --config emoji-f8 --out runs/vq-emoji-f8
"""

import dataclasses

from tokenshuffle.vq.train_config import load_recipe

CONFIG = dataclasses.replace(
    load_recipe("scenes-f8"),
    data="data/emoji-64-train",
    image_sizes=(64,),
    crop_size=0,
    batch_size=32,
    num_steps=4000,
    log_every=50,
)
