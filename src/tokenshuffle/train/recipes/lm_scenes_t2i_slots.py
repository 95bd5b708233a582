r"""scenes-t2i-slots: scenes-t2i-free whose colour term can also name a colour the prompt does not.

A colour-free decoder scores no colour, so where the prompt names none (counting, position and plain
two-object prompts) the term is uniform and each code of an object takes its own colour. Here the term
has one slot per colour besides the prompt's words (``LMConfig.colour_slots``) and the decoder reads the
drawn codes' colours again, so it can say "go on in this colour" through the term; what it scores is still
no colour above another. Starts, like scenes-t2i-free, from the colour-blind model at strength 8:

    tokenshuffle export --run runs/t2i-blind --vq src/tokenshuffle/assets/demo-model/vq \
        --out runs/t2i-blind-s8 --dtype fp32 --colour-strength 8
    tokenshuffle train --config scenes-t2i-slots --out runs/t2i-slots
"""

import dataclasses

from tokenshuffle.train.config import load_recipe

FREE = load_recipe("scenes-t2i-free")
CONFIG = dataclasses.replace(FREE, lm=dataclasses.replace(FREE.lm, colour_slots=True), seed=31)
