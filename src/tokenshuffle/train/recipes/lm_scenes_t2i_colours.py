r"""scenes-t2i-colours: the shipped decoder with a colour term read from the prompt's words alone.

Asked for a colour-shape pair no training scene draws ("a blue heart"), the shipped decoder keeps the shape
and moves the colour to one that shape was drawn in, or the reverse (docs/results.md, "Unseen colour-shape
pairs"). ``LMConfig.prompt_colours`` adds to each code's logit a colour term whose colour comes from one
word's row of a table (which word: attention from the code's feature over the prompt's words), trained to
guess the colour of every coloured target code (``colour_weight``); each code's colour class is measured
on 2,000 training scenes. Starts from the shipped model; trains its 512² path (the base decoder, its window
modules and the new term) on the shipped decoder's last stage's data (reading scenes, seed 9000), the
larger sizes' own modules frozen; bf16 autocast:

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
    lm=dataclasses.replace(HIRES.lm, prompt_colours=10),
    init_from=f"{SHIPPED}/lm",
    vq=f"{SHIPPED}/vq",
    text_tokenizer=f"{SHIPPED}/text_tokenizer.json",
    code_factor_images="data/scenes-24k-512-reading",
    code_factor_num_images=2000,
    train_only="tok_embeddings.,decoder.,output.,shuffle.,unshuffle.,window_ar.,prompt_colours.",
    colour_weight=1.0,
    seed=21,
    num_steps=1000,
    warmup_steps=50,
    precision="bf16",
    eval_every=500,
    ckpt_every=200,
    keep_last=3,
)
