r"""scenes-t2i-colours: the shipped decoder with its codes factored and a colour term read from the prompt.

Asked for a colour-shape pair no training scene draws ("a blue heart"), the shipped decoder keeps the shape
and moves the colour to one that shape was drawn in, or the reverse (docs/results.md, "Unseen colour-shape
pairs"). Two changes together: ``LMConfig.code_factors`` (each code embedded and scored linearly in its
colour class and pooled outline, so an outline learnt in nine colours is one set of weights for the tenth)
and ``LMConfig.prompt_colours`` (a colour term added to each code's logit, whose colour is the class of a
colour word of the prompt, chosen by attention from the code's feature; trained by ``colour_weight``).
Both tables are measured on 2,000 training scenes. Starts from the shipped model (the factor layers by
least squares to its rows); trains its 512² path on the shipped decoder's last stage's data (reading
scenes, seed 9000), the larger sizes' own modules frozen; bf16 autocast:

    T=single_object,colors,two_object,two_object,counting,counting,counting,position,position,position,\
color_attr,color_attr,color_attr
    tokenshuffle data scenes --num 24000 --height 512 --width 512 --seed 9000 --style reading --tasks $T \
        --out data/scenes-24k-512-reading --workers 2
    V=src/tokenshuffle/assets/demo-model/vq
    tokenshuffle encode --vq $V --data data/scenes-24k-512-reading --out data/codes-24k-512-reading --threads 2
    tokenshuffle encode --vq $V --data data/scenes-heldout-512-reading --out data/codes-heldout-512-reading
    tokenshuffle train --config scenes-t2i-colours --out runs/t2i-colours
"""

import dataclasses

from tokenshuffle.train.config import load_recipe

READING = load_recipe("scenes-t2i-reading")
HIRES = load_recipe("scenes-t2i-hires")  # the shipped model's architecture
SHIPPED = "src/tokenshuffle/assets/demo-model"
CONFIG = dataclasses.replace(
    READING,
    lm=dataclasses.replace(HIRES.lm, prompt_colours=10, code_factors=11 + 8 * 8),  # 10 colours + none; 8x8 mask
    init_from=f"{SHIPPED}/lm",
    vq=f"{SHIPPED}/vq",
    text_tokenizer=f"{SHIPPED}/text_tokenizer.json",
    code_factor_images="data/scenes-24k-512-reading",
    code_factor_num_images=2000,
    train_only="tok_embeddings.,decoder.,output.,shuffle.,unshuffle.,window_ar.,code_factors.,prompt_colours.",
    colour_weight=1.0,
    seed=22,
    num_steps=1000,
    warmup_steps=50,
    precision="bf16",
    eval_every=500,
    ckpt_every=200,
    keep_last=3,
)
