r"""scenes-t2i-blind: scenes-t2i-colours with a colour-blind decoder (``LMConfig.colour_blind``).

The decoder reads every colour word of the prompt as the mean of the colour words, so "blue" cannot tell
it "not a heart": it draws the shape from the other words, and the colour term (``prompt_colours``) alone
reads which colour each object takes. Starts from the scenes-t2i-colours model trained twice (2000 steps:
the recipe, then ``--set init_from=runs/t2i-colours2``), on the same data, 1000 steps:

    tokenshuffle train --config scenes-t2i-colours --out runs/t2i-colours2
    tokenshuffle train --config scenes-t2i-colours --out runs/t2i-colours3 --set init_from=runs/t2i-colours2 \
        --set num_steps=1000 --set seed=23 --set warmup_steps=20
    tokenshuffle train --config scenes-t2i-blind --out runs/t2i-blind
"""

import dataclasses

from tokenshuffle.train.config import load_recipe

COLOURS = load_recipe("scenes-t2i-colours")
CONFIG = dataclasses.replace(
    COLOURS,
    lm=dataclasses.replace(COLOURS.lm, colour_blind=True),
    init_from="runs/t2i-colours3",
    seed=23,
)
