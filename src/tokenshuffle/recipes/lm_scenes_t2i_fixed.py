"""scenes-t2i-fixed: the canonical decoder continued on ``fixed`` scenes (the stage before scenes-t2i-fixed-ar).

``scenes-t2i-canon`` left the decoder drawing the named shapes but often misshapen, and often the
wrong shape or colour for the second object (held-out score 0.334). Two things made its codes hard
to predict: object sizes drawn from a range, and a tokenizer whose convolutional encoder sees the
whole image (GroupNorm, attention), so one object's codes change with everything else in the scene.
This stage trains on ``--style fixed`` scenes (canonical, plus one object size per object count) encoded
by ``vq-scenes-f16-patch`` (the same codebook and decoder, a per-patch encoder): every copy of a
colour-shape pair of a size is the same block of codes, and the decoder's capacity goes to choosing and
placing the objects the prompt names. It continues from the shipped canonical decoder (``init_from``;
a fresh optimiser), whose code embeddings still mean what they drew, on 40,000 new scenes with
the tasks weighted toward those that need two objects (single 1, colours 1, two objects 2, counting 2,
position 3, colour attribute 3). fp32: without avx512_bf16 a CPU runs bf16 autocast ~15x slower.
From the repository root, after the scenes-t2i-canon path (its docstring) and vq-scenes-f16-patch's:

    tokenshuffle data scenes --num 300 --height 512 --width 512 --seed 90002 --style fixed \\
        --out data/scenes-heldout-512-fixed
    V=runs/vq-scenes-f16-patch
    tokenshuffle encode --vq $V --data data/scenes-40k-512-fixed --out data/codes-40k-512-fixed --threads 2
    tokenshuffle encode --vq $V --data data/scenes-heldout-512-fixed --out data/codes-heldout-512-fixed
    tokenshuffle train --config scenes-t2i-fixed --out runs/t2i-fixed

then scenes-t2i-fixed-ar (its docstring) from this run's step-1250 checkpoint.
"""

import dataclasses

from tokenshuffle.train.config import load_recipe

CANON = load_recipe("scenes-t2i-canon")
CONFIG = dataclasses.replace(
    CANON,
    data="data/codes-40k-512-fixed",
    eval_data="data/codes-heldout-512-fixed",
    vq="runs/vq-scenes-f16-patch",
    init_from="runs/t2i-canon2",
    num_steps=3000,
    lr=5e-4,
    warmup_steps=100,
    min_lr_ratio=0.0,
    precision="fp32",
    eval_every=500,
    ckpt_every=250,
    keep_last=4,
)
