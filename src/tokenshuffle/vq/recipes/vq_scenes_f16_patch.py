r"""vq-scenes-f16-patch: the shipped tokenizer, a per-patch encoder for vq-scenes-f16-p2's codebook and decoder.

``encoder="patch"``: each code from its own 16x16 patch only (space-to-depth and a per-patch MLP; no
norm, no attention), so on ``--style fixed`` scenes every copy of an object is the same block of codes
and the background one code. Only the encoder trains (``train_parts="encoder"``), against the frozen
codebook, post_quant_proj and decoder of ``runs/vq-scenes-f16-p2``, with that tokenizer's encoder as a
distillation teacher (``distill_weight``), so a code still draws what it drew and a decoder trained on
the old codes still reads the new ones. 1000 steps on whole 512^2 fixed scenes, batch 4, fp32:

    tokenshuffle data scenes --num 40000 --height 512 --width 512 --seed 7000 --style fixed \
        --tasks single_object,colors,two_object,two_object,counting,counting,position,position,position,\
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
