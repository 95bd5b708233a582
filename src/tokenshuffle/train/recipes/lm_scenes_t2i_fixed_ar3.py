"""scenes-t2i-fixed-ar3: the window-head decoder of scenes-t2i-fixed-ar2, 1200 more steps.

Starts from ``runs/t2i-fixed-ar2/lm`` (``init_from``; a fresh optimiser) on the same scenes and codes,
with a new warm-up and cosine (lr 3e-4) and a new data order (seed 3). Then ``scenes-t2i-reading``, the
shipped decoder:

    tokenshuffle train --config scenes-t2i-fixed-ar3 --out runs/t2i-fixed-ar3
"""

import dataclasses

from tokenshuffle.train.config import load_recipe

AR2 = load_recipe("scenes-t2i-fixed-ar2")
CONFIG = dataclasses.replace(
    AR2,
    init_from="runs/t2i-fixed-ar2/lm",
    seed=3,
    num_steps=1200,
    lr=3e-4,
)
