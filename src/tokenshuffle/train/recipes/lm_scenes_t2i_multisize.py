r"""scenes-t2i-multisize: the shipped decoder taught four sizes at once (the first high-resolution stage).

The paper's order, lower resolution first: the shipped 512² decoder (``scenes-t2i-reading``) continues on
reading scenes at 512×512, 1024×1024, 1024×512 and 512×1024 (width × height) in one run, every step one
size (``encode --buckets``; ``train.buckets``), the sizes in proportion to their scene counts. The grid
tokens name the size; ``max_grid_size`` rises to 128 (the grid sizes it adds start fresh, every other
weight carries over) and ``max_seq_len`` to 1044, the longest sequence trained (1024 image positions of a
1024² image at s=2 plus the 20-token prefix), so a larger size is one clear error. The scene layout is
in fractions of the image, so the objects grow with it. A fresh optimiser, no z-loss (the paper adds
it at its last stage); bf16 autocast (1.6x fp32's images/s on a CPU with AVX512_BF16, the same losses),
not compiled (four shapes). The data, all drawn like the reading stage's scenes (never a ``val`` prompt or a hard pair):

    T=single_object,colors,two_object,two_object,counting,counting,counting,position,position,position,\
color_attr,color_attr,color_attr
    for spec in "1024 1024 11000 5000" "512 1024 12000 3000" "1024 512 13000 3000" "512 512 9000 4000"; do
        set -- $spec   # height width seed number
        tokenshuffle data scenes --num $4 --height $1 --width $2 --seed $3 --style reading --tasks $T \
            --out data/scenes-$2x$1-reading --workers 2
        tokenshuffle data shards --data data/scenes-$2x$1-reading --out data/shards-multi-reading/$2x$1
    done
    V=src/tokenshuffle/assets/demo-model/vq
    tokenshuffle encode --vq $V --data 'data/shards-multi-reading/*/*.tar' --out data/codes-multi-reading \
        --buckets 512,1024,1024x512,512x1024 --workers 2                               # 10 min
    # held-out: 200 per size the same way, seeds 90003 (1024x1024), 90004 (1024x512), 90005 (512x1024) and
    # 90002 (512x512), no --tasks, into data/codes-heldout-multi-reading

    tokenshuffle train --config scenes-t2i-multisize --out runs/t2i-multisize        # 53 min, AMD VM, bf16

(The run in docs/results.md joined the four scene folders into one captions.jsonl folder in the same
order as that glob, 1024x1024, 1024x512, 512x1024, 512x512.)
"""

import dataclasses

from tokenshuffle.train.config import load_recipe

READING = load_recipe("scenes-t2i-reading")
CONFIG = dataclasses.replace(
    READING,
    lm=dataclasses.replace(READING.lm, max_grid_size=128, max_seq_len=1044),
    data="data/codes-multi-reading",
    eval_data="data/codes-heldout-multi-reading",
    vq="src/tokenshuffle/assets/demo-model/vq",
    text_tokenizer="src/tokenshuffle/assets/demo-model/text_tokenizer.json",
    init_from="src/tokenshuffle/assets/demo-model/lm",
    seed=5,
    num_steps=1200,
    batch_size=8,
    lr=2e-4,
    warmup_steps=30,
    min_lr_ratio=0.1,
    precision="bf16",
    compile=False,
    num_eval_samples=64,
    eval_every=200,
    ckpt_every=100,
    keep_last=3,
)
