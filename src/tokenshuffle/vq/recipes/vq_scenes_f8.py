"""vq-scenes-f8: the shipped tokenizer's first stage, a downsample-8 tokenizer trained on 128^2 crops.

vq-8-small (LlamaGen's VQ-8 layout with 16 base channels, one residual block per level, a 1024 x 8
l2-normalised codebook; 256^2 -> 32x32 codes), from scratch on 128^2 crops of textured synthetic scenes
rendered on the fly, 5000 steps, bf16 autocast. After this stage alone whole images come back blotchy
(GroupNorm statistics of crops do not carry to whole images); ``scenes-f8-full`` fixes that, then
``scenes-f16-p2`` and ``scenes-f16-patch`` follow (docs/reproduce.md has the whole chain):

    tokenshuffle train-vq --config scenes-f8 --out runs/vq-scenes-f8 --threads 2
"""

from tokenshuffle.vq.config import VQConfig
from tokenshuffle.vq.train_config import VQTrainConfig

CONFIG = VQTrainConfig(
    vq=VQConfig.preset("vq-8-small"),
    data="scenes",
    image_sizes=(256, 256, 256, 512),
    crop_size=128,
    batch_size=8,
    num_steps=5000,
    lr=8e-4,
    min_lr_ratio=0.05,
    warmup_steps=100,
    betas=(0.5, 0.9),
    restart_every=50,
    restart_until=0.8,
    precision="bf16",
    sample_every=1000,
    ckpt_every=500,
    log_every=25,
    seed=0,
)
