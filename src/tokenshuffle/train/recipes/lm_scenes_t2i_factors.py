r"""scenes-t2i-factors: the shipped decoder with its image codes embedded and scored through code factors.

Asked for a colour-shape pair that no training scene draws ("a blue heart"), the shipped decoder draws a
pair it has seen (a blue circle, a white heart): every code is one colour and one piece of outline at
once, and the pair's codes were never a target (docs/results.md, "Unseen colour-shape pairs"). Here each
image code is seen and scored linearly in its colour class and pooled foreground mask
(``LMConfig.code_factors``, ``vq.code_factors.palette_factors`` measured on 2,000 of the training scenes),
so an outline learnt in nine colours is one set of weights for the tenth. Starts from the shipped decoder
(its transformer, shuffle modules and window head; the factor layers by least squares to its embedding
and output rows), on the shipped decoder's last stage's data (reading scenes, seed 9000), bf16 autocast:

    T=single_object,colors,two_object,two_object,counting,counting,counting,position,position,position,\
color_attr,color_attr,color_attr
    tokenshuffle data scenes --num 24000 --height 512 --width 512 --seed 9000 --style reading --tasks $T \
        --out data/scenes-24k-512-reading --workers 2
    V=src/tokenshuffle/assets/demo-model/vq
    tokenshuffle encode --vq $V --data data/scenes-24k-512-reading --out data/codes-24k-512-reading --threads 2
    tokenshuffle train --config scenes-t2i-factors --out runs/t2i-factors
"""

import dataclasses

from tokenshuffle.train.config import load_recipe

READING = load_recipe("scenes-t2i-reading")
SHIPPED = "src/tokenshuffle/assets/demo-model"
CONFIG = dataclasses.replace(
    READING,
    lm=dataclasses.replace(READING.lm, code_factors=11 + 8 * 8),  # 10 colours + none; mask of 2x2 blocks at f=16
    init_from=f"{SHIPPED}/lm",
    vq=f"{SHIPPED}/vq",
    text_tokenizer=f"{SHIPPED}/text_tokenizer.json",
    code_factor_images="data/scenes-24k-512-reading",
    code_factor_num_images=2000,
    seed=11,
    num_steps=2000,
    warmup_steps=100,
    precision="bf16",
    eval_every=600,
    ckpt_every=200,
    keep_last=3,
)
