"""scenes-stage1: stage 1 of the paper's staged recipe (Sec. 3.3): low resolution, no Token-Shuffle (s=1).

128^2 synthetic scenes rendered on the fly (``data="scenes"``) -> 8x8 codes through a downsample-16
tokenizer with 1024 codes (``vq``; e.g. ``--set vq=runs/vq-scenes-f16-p2``); a small decoder (dim 256,
6 layers, byte-level text) learns the text-image alignment cheaply before the resolution goes up. 4000
steps at batch 32. Then ``scenes-stage2`` and ``scenes-stage3``:

    tokenshuffle train --config scenes-stage1 --out runs/lm-scenes-stage1
"""

from tokenshuffle.model.config import LMConfig
from tokenshuffle.train.config import TrainConfig

LM = LMConfig(dim=256, num_layers=6, num_heads=8, multiple_of=64, max_seq_len=512, text_vocab_size=256,
              max_text_len=64, image_vocab_size=1024, max_grid_size=64, shuffle_window=1)

CONFIG = TrainConfig(
    lm=LM,
    data="scenes",
    vq="runs/vq-scenes-f16",
    height=128,
    width=128,
    num_samples=20000,
    num_eval_samples=256,
    caption_dropout=0.1,
    batch_size=32,
    num_steps=4000,
    lr=1e-3,
    warmup_steps=200,
    weight_decay=0.05,
    eval_every=500,
    sample_every=1000,
    ckpt_every=500,
)
