"""scenes-t2i-multisize2: the second piece of the first multi-size stage, with 512² weighted up.

``scenes-t2i-multisize`` taught 1024², 1024x512 and 512x1024 but cost the 512² images some of their
score (docs/results.md, "Higher resolution"). This piece continues its final weights (``init_from``, a
fresh optimiser) on the same codes with the 512² bucket counted three times (``bucket_weights``: about
half the steps are 512²), a lower peak lr and a cosine to zero:

    tokenshuffle train --config scenes-t2i-multisize2 --out runs/t2i-multisize2
"""

import dataclasses

from tokenshuffle.train.config import load_recipe

FIRST = load_recipe("scenes-t2i-multisize")
CONFIG = dataclasses.replace(
    FIRST,
    init_from="runs/t2i-multisize",
    bucket_weights="32x32=3",
    seed=6,
    num_steps=1000,
    lr=1e-4,
    warmup_steps=20,
    min_lr_ratio=0.0,
)
