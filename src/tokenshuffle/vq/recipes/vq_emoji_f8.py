"""vq-emoji-f8: the emoji model's tokenizer, downsample 8 on 64^2 emoji and clipart (8x8 codes).

vq-8-small (16 base channels, one residual block per level, a 1024 x 8 l2-normalised codebook) from
scratch on whole 64^2 images of the training split of ``tokenshuffle data emoji`` (no crops: the
images are small), batch 32, 4000 steps, bf16 autocast. docs/train-on-your-data.md has the chain:

    tokenshuffle data emoji --out data/emoji-64 --size 64
    tokenshuffle data split --data data/emoji-64 --train data/emoji-64-train --heldout data/emoji-64-heldout --by name
    tokenshuffle train-vq --config emoji-f8 --out runs/vq-emoji-f8
"""

from tokenshuffle.vq.config import VQConfig
from tokenshuffle.vq.train_config import VQTrainConfig

CONFIG = VQTrainConfig(
    vq=VQConfig.preset("vq-8-small"),
    data="data/emoji-64-train",
    image_sizes=(64,),
    crop_size=0,
    batch_size=32,
    num_steps=4000,
    lr=8e-4,
    min_lr_ratio=0.05,
    warmup_steps=100,
    betas=(0.5, 0.9),
    restart_every=50,
    restart_until=0.8,
    precision="bf16",
    sample_every=1000,
    ckpt_every=500,
    log_every=50,
    seed=0,
)
