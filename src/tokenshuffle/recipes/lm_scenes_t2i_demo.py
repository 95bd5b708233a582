"""scenes-t2i-demo: the shipped demo model (src/tokenshuffle/assets/demo-model), 512^2 with s=2.

A LLaMA decoder (dim 256, 8 layers, 8 heads) over 32x32 codes (16x16 = 256 decoder positions) from
the demo tokenizer (``configs/vq_scenes_f16_p2.py``: the f8 tokenizer behind a 2x2 space-to-depth
stem, 1024 codes), word-level text, and every training caption phrasing (``caption_choice="any"``:
besides the GenEval prompt a scene has phrasings without "a photo of", with the count in digits or
with the colours of a two-object scene). ``scenes-t2i`` with 8 layers on 40,000 training scenes;
held-out scenes from other seeds. The whole path, from the repository root:

    tokenshuffle data scenes --num 40000 --height 512 --width 512 --seed 5000 --out data/scenes-40k-512
    tokenshuffle data scenes --num 300 --height 512 --width 512 --seed 90002 --out data/scenes-heldout-512
    tokenshuffle data words --data data/scenes-40k-512 --out data/words-scenes.json
    tokenshuffle train-vq --config scenes-f8 --out runs/vq-scenes-f8 --threads 2
    tokenshuffle train-vq --config scenes-f8-full --out runs/vq-scenes-f8-full --threads 2
    tokenshuffle train-vq --config scenes-f16-p2 --out runs/vq-scenes-f16-p2 --threads 2   # decoder only
    V=runs/vq-scenes-f16-p2
    tokenshuffle encode --vq $V --data data/scenes-40k-512 --out data/codes-40k-512-p2 --precision bf16
    tokenshuffle encode --vq $V --data data/scenes-heldout-512 --out data/codes-heldout-512-p2 --precision bf16
    tokenshuffle train --config scenes-t2i-demo --out runs/t2i-demo
    tokenshuffle export --run runs/t2i-demo --vq $V --out src/tokenshuffle/assets/demo-model --dtype fp16 \
        --temperature 1.0 --top-k 0

16000 steps at batch 16 are 256,000 images, 6.4 passes over the training scenes; ``compile=True``
compiles each decoder block (1.4x the training images/s of eager bf16 on the 2-core CPU, after ~25 s
of compiling). The shipped run got there in five pieces: started with num_steps=7000, stopped by a
machine restart after its step-500 checkpoint, resumed (``--resume``) with num_steps=3500 and finished
(that model was shipped for a while), resumed from its step-3500 checkpoint with num_steps=7800 and
compile=True (also shipped for a while), then from step 7800 with num_steps=12000 (shipped too), then
from step 12000 with num_steps=16000 and min_lr_ratio=0.0. Each resume keeps the optimiser state and
recomputes the cosine learning rate for the new length, so the rate jumped from its floor (1e-4) back
to 6.3e-4 at step 3500 and to 3.5e-4 at step 7800 and decayed again; the last piece, with the floor
at zero, starts at 1.49e-4 and decays to zero at step 16000. Steps 0-12000 ran with min_lr_ratio=0.1
(the base recipe's). A fresh 16000-step run would not have those bumps.
The model card (src/tokenshuffle/assets/demo-model/README.md) has the times, hardware and scores.
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
