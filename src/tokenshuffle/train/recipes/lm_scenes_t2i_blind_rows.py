r"""scenes-t2i-blind-rows: the shipped decoder, colour-blind, with the colour term and its own row per code.

As scenes-t2i-blind (``LMConfig.colour_blind`` with ``prompt_colours``) but without code factors: the image
codes keep the shipped decoder's embedding and output rows. Starts from the shipped model (the colour term
fresh, its code classes measured on 2,000 training scenes); trains the 512² path on the reading scenes of
scenes-t2i-colours, the larger sizes' own modules frozen, 1000 steps, bf16 autocast:

    tokenshuffle train --config scenes-t2i-blind-rows --out runs/t2i-blind-rows
"""

import dataclasses

from tokenshuffle.train.config import load_recipe

COLOURS = load_recipe("scenes-t2i-colours")
CONFIG = dataclasses.replace(
    COLOURS,
    lm=dataclasses.replace(COLOURS.lm, code_factors=0, colour_blind=True),
    train_only="tok_embeddings.,decoder.,output.,shuffle.,unshuffle.,window_ar.,prompt_colours.",
    seed=24,
)
