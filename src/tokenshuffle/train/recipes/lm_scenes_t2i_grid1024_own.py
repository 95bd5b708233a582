r"""scenes-t2i-grid1024-own: the shipped 512² model with a 1024² path of its own, trained alone.

Beyond the paper (``LMConfig.grid_own_decoder``). The ``scenes-t2i-grid1024`` chain trains one shared
decoder on 512² and 1024², and 512² paid for it (129 of 198 ``val`` prompts against the shipped 136). Here
the 1024² grid (64x64 codes in 4x4 windows, ``grid_modules.64x64``) owns its embeddings, decoder and output
as well as its window modules. The base is the shipped LM, unchanged (``init_from``); the 1024² modules
start from the last stage of the chain at 1024² (``grid_init_from``: its window modules and its shared
decoder), and only they train (``train_only``), on 1024² scenes alone. So 512² draws exactly what the
shipped model draws, and the 1024² path goes on learning without a 512² term. The data is that of
``scenes-t2i-grid1024-adapt``; the chain (runs/t2i-grid1024f, the commands in docs/results.md
"Higher resolution") first:

    tokenshuffle train --config scenes-t2i-grid1024-own --out runs/t2i-grid1024-own
"""

import dataclasses

from tokenshuffle.train.config import load_recipe

ADAPT = load_recipe("scenes-t2i-grid1024-adapt")
CONFIG = dataclasses.replace(
    ADAPT,
    lm=dataclasses.replace(ADAPT.lm, grid_own_decoder=True),
    grid_init_from="64x64=runs/t2i-grid1024f",
    seed=14,
    num_steps=1500,
    lr=1.5e-4,
    min_lr_ratio=0.1,
    eval_every=500,
    ckpt_every=100,
)
