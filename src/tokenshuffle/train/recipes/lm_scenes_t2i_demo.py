"""scenes-t2i-demo: the shipped model's first decoder stage, 16000 steps on textured scenes at 512^2, s=2.

``scenes-t2i`` with 8 layers, word-level text (``data/words-scenes.json``) and every caption phrasing of
a scene (``caption_choice="any"``), on 40,000 textured scenes (seed 5000) encoded by
``vq-scenes-f16-p2`` (32x32 codes -> 256 decoder positions): batch 16, AdamW lr 1e-3, 200 warm-up
steps, cosine decay to zero, bf16 autocast, decoder blocks compiled. After the tokenizer stages:

    tokenshuffle data scenes --num 40000 --height 512 --width 512 --seed 5000 --out data/scenes-40k-512
    tokenshuffle data scenes --num 300 --height 512 --width 512 --seed 90002 --out data/scenes-heldout-512
    tokenshuffle data words --data data/scenes-40k-512 --out data/words-scenes.json
    V=runs/vq-scenes-f16-p2
    tokenshuffle encode --vq $V --data data/scenes-40k-512 --out data/codes-40k-512-p2 --precision bf16
    tokenshuffle encode --vq $V --data data/scenes-heldout-512 --out data/codes-heldout-512-p2 --precision bf16
    tokenshuffle train --config scenes-t2i-demo --out runs/t2i-demo

Then ``scenes-t2i-canon``; docs/reproduce.md has the whole chain.
"""

import dataclasses

from tokenshuffle.train.config import load_recipe

BASE = load_recipe("scenes-t2i")
CONFIG = dataclasses.replace(
    BASE,
    lm=dataclasses.replace(BASE.lm, num_layers=8, text_vocab_size=48, max_text_len=16),
    data="data/codes-40k-512-p2",
    eval_data="data/codes-heldout-512-p2",
    vq="runs/vq-scenes-f16-p2",
    text_tokenizer="data/words-scenes.json",
    caption_choice="any",
    num_steps=16000,
    min_lr_ratio=0.0,
    warmup_steps=200,
    precision="bf16",
    compile=True,
    eval_every=500,
    ckpt_every=500,
    keep_last=20,
)
