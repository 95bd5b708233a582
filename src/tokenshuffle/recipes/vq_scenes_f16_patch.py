"""vq-scenes-f16-patch: the demo tokenizer with a per-patch encoder, for the ``fixed`` scene style.

The shipped tokenizer (``vq_scenes_f16_p2``) encodes with LlamaGen's convolutional encoder, whose
GroupNorm and attention see the whole image: the same red circle gets other codes when another object
or colour is elsewhere in the scene (on ``fixed`` scenes, where every circle of a size is the same
pixels, two copies of one object shared 25-99 % of their codes). A language model then spends its
capacity predicting that context noise. This stage keeps the codebook, post_quant_proj and decoder of
``vq_scenes_f16_p2`` frozen and trains a new ``encoder="patch"`` encoder (each code from its own 16x16
patch only) against them with the usual reconstruction and commitment losses, so a code still draws
what it drew and an LM trained on the old codes still reads the new ones; on the layout grid of the
``fixed`` style every copy of an object becomes the same block of codes:

    tokenshuffle data scenes --num 40000 --height 512 --width 512 --seed 7000 --style fixed \\
        --tasks single_object,colors,two_object,two_object,counting,counting,position,position,position,\\
color_attr,color_attr,color_attr --out data/scenes-40k-512-fixed --workers 2
    tokenshuffle train-vq --config scenes-f16-patch --out runs/vq-scenes-f16-patch --threads 2
"""

import dataclasses

from tokenshuffle.vq.config import VQConfig
from tokenshuffle.vq.train_config import load_recipe

BASE = load_recipe("scenes-f16-p2")
CONFIG = dataclasses.replace(
    BASE,
    vq=VQConfig.preset("vq-8-small", patch_size=2, encoder="patch"),
    init_from="runs/vq-scenes-f16-p2",
    train_parts="encoder",
    distill_weight=1.0,
    precision="fp32",
    data="data/scenes-40k-512-fixed",
    image_sizes=(512,),
    crop_size=0,
    batch_size=4,
    num_steps=1000,
    lr=1e-3,
    warmup_steps=50,
    min_lr_ratio=0.05,
    sample_every=250,
    ckpt_every=250,
)
