"""smoke: a tiny LM on random codes, 20 steps in seconds on a CPU; used by the tests.

    tokenshuffle train --config smoke --out runs/lm-smoke
"""

from tokenshuffle.model.config import LMConfig
from tokenshuffle.train.config import TrainConfig

CONFIG = TrainConfig(
    lm=LMConfig.preset("tiny", image_vocab_size=64, max_grid_size=16, max_text_len=16),
    data="random",
    height=64,
    width=64,
    batch_size=4,
    num_steps=20,
    lr=3e-3,
    warmup_steps=4,
    num_eval_samples=8,
    log_every=1,
    eval_every=10,
    ckpt_every=5,
    keep_last=2,
)
