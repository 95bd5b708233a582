"""scenes-stage3: stage 3 of the staged recipe: 512^2 (32x32 codes -> 256 positions at s=2) with z-loss, from stage 2.

z-loss (weight 1e-4 on logsumexp^2) keeps the softmax normaliser from drifting, the instability the
paper reports for high-resolution training (Sec. 3.3); a smaller peak lr (2e-4) for the same reason.
Starts from ``runs/lm-scenes-stage2`` (``init_from``); batch 16, 2000 steps:

    tokenshuffle train --config scenes-stage3 --out runs/lm-scenes-stage3
"""

import dataclasses

from tokenshuffle.train.config import TrainConfig, load_recipe

STAGE2 = load_recipe("scenes-stage2")

CONFIG: TrainConfig = dataclasses.replace(
    STAGE2,
    init_from="runs/lm-scenes-stage2",
    height=512,
    width=512,
    batch_size=16,
    num_steps=2000,
    lr=2e-4,
    z_loss_weight=1e-4,
)
