"""emoji: the emoji model's decoder, 64^2 emoji and clipart (8x8 codes from vq-emoji-f8), s=2.

A LLaMA decoder (dim 256, 8 layers, 8 heads), Token-Shuffle s=2 (8x8 codes -> 16 decoder positions),
word-level text built from the training split's captions (words seen at least twice; the rest read as
``<unk>``), every caption phrasing of an image (``caption_choice="any"``), 10 % caption dropout for
classifier-free guidance, AdamW lr 1e-3 with cosine decay to zero, batch 64, bf16 autocast. The held-out
names (``data split --by name``, 5 %) are its eval set. After the tokenizer (``vq-emoji-f8``):

    V=runs/vq-emoji-f8
    tokenshuffle encode --vq $V --data data/emoji-64-train --out data/codes-emoji-64 --size 64
    tokenshuffle encode --vq $V --data data/emoji-64-heldout --out data/codes-emoji-64-heldout --size 64
    tokenshuffle data words --data data/emoji-64-train --min-count 2 --out data/words-emoji.json
    tokenshuffle train --config emoji --out runs/lm-emoji
"""

from tokenshuffle.model.config import LMConfig
from tokenshuffle.train.config import TrainConfig

CONFIG = TrainConfig(
    lm=LMConfig(dim=256, num_layers=8, num_heads=8, multiple_of=64, max_seq_len=64, text_vocab_size=5296,
                max_text_len=24, image_vocab_size=1024, max_grid_size=8, shuffle_window=2),
    data="data/codes-emoji-64",
    eval_data="data/codes-emoji-64-heldout",
    vq="runs/vq-emoji-f8",
    text_tokenizer="data/words-emoji.json",
    height=64,
    width=64,
    num_eval_samples=641,
    caption_dropout=0.1,
    caption_choice="any",
    batch_size=64,
    num_steps=4000,
    lr=1e-3,
    min_lr_ratio=0.0,
    warmup_steps=200,
    weight_decay=0.05,
    precision="bf16",
    eval_every=500,
    sample_every=0,
    ckpt_every=500,
    keep_last=3,
)
