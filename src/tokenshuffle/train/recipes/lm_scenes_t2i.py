"""scenes-t2i: the base LM recipe that scenes-t2i-demo (the shipped model's first stage) builds on.

A LLaMA decoder (dim 256, 6 layers, 8 heads), Token-Shuffle s=2, 512^2 images (32x32 codes -> 256
decoder positions), byte-level text, 10 % caption dropout for classifier-free guidance, AdamW (lr 1e-3,
50 warm-up steps, cosine decay, weight decay 0.05), batch 16, 800 steps. Its own data and tokenizer
paths are those of an earlier setup (``runs/vq-scenes-f16-fast``: configs/vq_scenes_f16_fast.py at
commit f2d949a); to run it alone, point it at code shards from ``tokenshuffle encode`` and their
tokenizer:

    tokenshuffle train --config scenes-t2i --out runs/t2i --set data=DIR --set eval_data=DIR --set vq=DIR
"""

from tokenshuffle.model.config import LMConfig
from tokenshuffle.train.config import TrainConfig

CONFIG = TrainConfig(
    lm=LMConfig(dim=256, num_layers=6, num_heads=8, multiple_of=64, max_seq_len=512, text_vocab_size=256,
                max_text_len=96, image_vocab_size=1024, max_grid_size=64, shuffle_window=2),
    data="data/codes-6k-512",
    eval_data="data/codes-heldout-512",
    vq="runs/vq-scenes-f16-fast",
    height=512,
    width=512,
    num_eval_samples=256,
    caption_dropout=0.1,
    batch_size=16,
    num_steps=800,
    lr=1e-3,
    warmup_steps=50,
    weight_decay=0.05,
    eval_every=200,
    sample_every=0,
    ckpt_every=200,
)
