r"""scenes-t2i-fixed: the shipped model's third decoder stage, the canonical decoder on fixed scenes and patch codes.

Starts from ``runs/t2i-canon2`` (``init_from``; a fresh optimiser) on 40,000 ``--style fixed`` scenes
(canonical, one object size per object count, copies of an object pixel-identical; tasks weighted
single 1, colours 1, two objects 2, counting 2, position 3, colour attribute 3) encoded by
``vq-scenes-f16-patch`` (the same codebook, a per-patch encoder). fp32: bf16 autocast is slow on CPUs
without bf16 instructions. Set for 3000 steps, lr 5e-4; the shipped chain stopped it after its
step-1250 checkpoint, from which ``scenes-t2i-fixed-ar`` continues (stop it before step 2250, when
``keep_last`` removes that checkpoint). The training scenes come from the ``scenes-f16-patch`` recipe's
data command; then:

    tokenshuffle data scenes --num 300 --height 512 --width 512 --seed 90002 --style fixed \
        --out data/scenes-heldout-512-fixed
    V=runs/vq-scenes-f16-patch
    tokenshuffle encode --vq $V --data data/scenes-40k-512-fixed --out data/codes-40k-512-fixed --threads 2
    tokenshuffle encode --vq $V --data data/scenes-heldout-512-fixed --out data/codes-heldout-512-fixed
    tokenshuffle train --config scenes-t2i-fixed --out runs/t2i-fixed
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
