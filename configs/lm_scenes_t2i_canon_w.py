"""scenes-t2i-canon-w: a third canonical piece, on new scenes weighted toward the tasks the model fails.

``scenes-t2i-canon`` (two pieces) left the demo decoder drawing single objects and single colours
well and positions and colour-to-object binding badly. This piece continues from those weights
(``init_from``; a fresh optimiser) on 24,000 canonical scenes no earlier stage saw (seed 6000),
whose tasks are drawn with weights single 1, two objects 2, counting 2, colours 1, position 3,
colour attribute 4 (``--tasks`` names a task once per weight), so most of the steps go to the
prompts that need two objects placed and coloured. Everything else is ``scenes-t2i-canon``'s, at
the second piece's peak rate. From the repository root, after the scenes-t2i-canon path:

    T=single_object,two_object,two_object,counting,counting,colors,position,position,position
    T=$T,color_attr,color_attr,color_attr,color_attr
    tokenshuffle data scenes --num 24000 --height 512 --width 512 --seed 6000 --style canonical \\
        --tasks $T --out data/scenes-24k-512-canon-w --workers 2
    tokenshuffle encode --vq runs/vq-scenes-f16-p2 --data data/scenes-24k-512-canon-w \\
        --out data/codes-24k-512-canon-w --threads 2 --batch-size 32
    tokenshuffle train --config scenes-t2i-canon-w --out runs/t2i-canon-w
    tokenshuffle export --run runs/t2i-canon-w --vq runs/vq-scenes-f16-p2 --out src/tokenshuffle/assets/demo-model \\
        --dtype fp16 --guidance-scale 3 --cfg-schedule half-linear --temperature 0.85 --top-k 100
"""

import dataclasses
from pathlib import Path

from tokenshuffle.train.config import load_recipe

CANON = load_recipe(str(Path(__file__).with_name("lm_scenes_t2i_canon.py")))
CONFIG = dataclasses.replace(
    CANON,
    data="data/codes-24k-512-canon-w",
    init_from="runs/t2i-canon2",
    num_steps=3000,
    lr=3e-4,
    eval_every=500,
    ckpt_every=250,
)
