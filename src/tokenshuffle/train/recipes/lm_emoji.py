"""emoji: the emoji model's decoder, 64^2 emoji and clipart (8x8 codes from vq-emoji-f8), s=2.

A LLaMA decoder (dim 256, 8 layers, 8 heads), Token-Shuffle s=2 (8x8 codes -> 16 decoder positions),
word-level text built from its training captions (words seen at least twice; the rest read as
``<unk>``), every caption phrasing of an image (``caption_choice="any"``), 10 % caption dropout for
classifier-free guidance, AdamW lr 1e-3 with cosine decay to zero, batch 64, 2500 steps, bf16 autocast.

Its data are the training split of ``data split --by name`` (the held-out 5 % of names are scored
once, after training) split again by name (``--seed 1``): 95 % to fit, 5 % to tune. The tuning names
are its eval set (bits per code every 250 steps) and pick the checkpoint that is exported. The length
(2500) was set after an earlier 5000-step run over-fit past step 2000 (its curve: docs/results.md, "The
emoji model"). After the tokenizer (``vq-emoji-f8``); docs/train-on-your-data.md has the chain:

    tokenshuffle data split --data data/emoji-64-train --train data/emoji-64-fit --heldout data/emoji-64-tune \
        --by name --seed 1
    tokenshuffle data shards --data data/emoji-64-fit --out data/emoji-64-fit-wds --per-shard 1000
    tokenshuffle data shards --data data/emoji-64-tune --out data/emoji-64-tune-wds --per-shard 1000
    V=runs/vq-emoji-f8
    tokenshuffle encode --vq $V --data 'data/emoji-64-fit-wds/*.tar' --out data/codes-emoji-64-fit --size 64 --workers 2
    tokenshuffle encode --vq $V --data data/emoji-64-tune-wds --out data/codes-emoji-64-tune --size 64
    tokenshuffle data words --data data/emoji-64-fit --min-count 2 --out data/words-emoji.json
    tokenshuffle train --config emoji --out runs/lm-emoji
"""

from tokenshuffle.model.config import LMConfig
from tokenshuffle.train.config import TrainConfig

CONFIG = TrainConfig(
    lm=LMConfig(dim=256, num_layers=8, num_heads=8, multiple_of=64, max_seq_len=64, text_vocab_size=5151,
                max_text_len=24, image_vocab_size=1024, max_grid_size=8, shuffle_window=2),
    data="data/codes-emoji-64-fit",
    eval_data="data/codes-emoji-64-tune",
    vq="runs/vq-emoji-f8",
    text_tokenizer="data/words-emoji.json",
    height=64,
    width=64,
    num_eval_samples=569,
    caption_dropout=0.1,
    caption_choice="any",
    batch_size=64,
    num_steps=2500,
    lr=1e-3,
    min_lr_ratio=0.0,
    warmup_steps=200,
    weight_decay=0.05,
    precision="bf16",
    eval_every=250,
    sample_every=0,
    ckpt_every=250,
    keep_last=10,
)
