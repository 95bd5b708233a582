r"""scenes-t2i-colours: the shipped decoder with its codes factored and a colour term read from the prompt.

Asked for a colour-shape pair no training scene draws ("a blue heart"), the shipped decoder keeps the shape
and moves the colour to one that shape was drawn in, or the reverse (docs/results.md, "Unseen colour-shape
pairs"). Two changes together: ``LMConfig.code_factors`` (each code embedded and scored linearly in its
colour class and pooled outline, so an outline learnt in nine colours is one set of weights for the tenth)
and ``LMConfig.prompt_colours`` (a colour term added to each code's logit, whose colour is the class of a
colour word of the prompt, chosen by attention from the code's feature; trained by ``colour_weight``).
Both tables are measured on 2,000 training scenes. Starts from the shipped model (the factor layers by
least squares to its rows); trains its 512² path on the shipped decoder's last stage's data (reading
scenes, seed 9000), the larger sizes' own modules frozen; bf16 autocast. The data: scenes-t2i-factors'
docstring's two commands, and scenes-t2i-reading's held-out scenes encoded with the shipped tokenizer:

    tokenshuffle encode --vq src/tokenshuffle/assets/demo-model/vq --data data/scenes-heldout-512-reading \
        --out data/codes-heldout-512-reading
    tokenshuffle train --config scenes-t2i-colours --out runs/t2i-colours2   # docs/results.md has the rest
"""

import dataclasses

from tokenshuffle.train.config import load_recipe

FACTORS = load_recipe("scenes-t2i-factors")  # the code factors, their images, the parent and the data
HIRES = load_recipe("scenes-t2i-hires")  # the shipped model's architecture
CONFIG = dataclasses.replace(
    FACTORS,
    lm=dataclasses.replace(HIRES.lm, code_factors=FACTORS.lm.code_factors, prompt_colours=10),
    train_only="tok_embeddings.,decoder.,output.,shuffle.,unshuffle.,window_ar.,code_factors.,prompt_colours.",
    colour_weight=1.0,
    seed=22,
    num_steps=1000,
    warmup_steps=50,
    eval_every=500,
)
