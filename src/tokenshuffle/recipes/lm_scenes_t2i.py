"""scenes-t2i: the base recipe of the demo model (scenes-t2i-demo) and of the README's window-size tables.

One recipe for every row: a LLaMA decoder (dim 256, 6 layers, 8 heads, ~5 M parameters without the
embeddings) over code shards of 6,000 synthetic scenes (seed 5000) from the demo tokenizer
(vq-scenes-f16-fast: f16, 1024 codes), byte-level text, 10 % caption dropout for CFG, AdamW with
warm-up and cosine decay. Held-out bits per image token come from scenes seeded 90001/90002, which
no training scene uses. Only the resolution and the window size change between rows:

    # the data (render, then encode at each resolution)
    tokenshuffle data scenes --num 6000 --height 512 --width 512 --seed 5000 --out data/scenes-6k-512
    tokenshuffle encode --vq runs/vq-scenes-f16-fast --data data/scenes-6k-512 --out data/codes-6k-512
    tokenshuffle encode --vq runs/vq-scenes-f16-fast --data data/scenes-6k-512 --size 256 --out data/codes-6k-256
    tokenshuffle encode --vq runs/vq-scenes-f16-fast --data data/scenes-heldout-512 --out data/codes-heldout-512
    tokenshuffle encode --vq runs/vq-scenes-f16-fast --data data/scenes-heldout-256 --out data/codes-heldout-256
    # (the held-out folders: `tokenshuffle data scenes` with --seed 90002 at 512^2, 90001 at 256^2)
    # the demo model: 512^2, s=2 (32x32 codes -> 256 positions)
    tokenshuffle train --config scenes-t2i --out runs/t2i-512-s2
    # the window-size table: 256^2 with s = 1, 2, 4 (256, 64, 16 positions)
    tokenshuffle train --config scenes-t2i --out runs/t2i-256-s1 --set height=256 --set width=256 \\
        --set data=data/codes-6k-256 --set eval_data=data/codes-heldout-256 --set lm.shuffle_window=1

Sized for one session on a 2-core CPU (800 steps of 16 images: 40 min at 512^2 with 1 thread). At
that size no run is converged; the README's "Text-to-image on synthetic scenes" table has the figures.
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
