r"""scenes-t2i-slots: scenes-t2i-blind with a colour-free decoder and colour slots in the colour term.

The colour-blind decoder cannot read which colour was named, yet it still scores colours: from the shape
word and the codes already drawn it learns that hearts are red or green, and on "a blue heart" that taste
outweighs the colour term (docs/results.md, "Unseen colour-shape pairs"). Here the decoder scores no colour
above another (``LMConfig.colour_free``): it draws outlines and the colour term paints them. So that an
object whose colour the prompt does not name still takes one colour, the term also has one slot per colour
(``LMConfig.colour_slots``) and the decoder reads the drawn codes' colours, so it can say "go on in this
colour" through the term. Starts from the colour-blind model with the term's strength set to 8 (the value
chosen on the tuning prompts), written at full precision; the same data, 1000 steps:

    tokenshuffle export --run runs/t2i-blind --vq src/tokenshuffle/assets/demo-model/vq \
        --out runs/t2i-blind-s8 --dtype fp32 --colour-strength 8
    tokenshuffle train --config scenes-t2i-slots --out runs/t2i-slots
"""

import dataclasses

from tokenshuffle.train.config import load_recipe

FREE = load_recipe("scenes-t2i-free")  # the colour-free decoder, its start and its data
CONFIG = dataclasses.replace(FREE, lm=dataclasses.replace(FREE.lm, colour_slots=True), seed=31)
