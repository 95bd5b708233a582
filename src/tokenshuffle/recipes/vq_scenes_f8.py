"""vq-scenes-f8: a small downsample-8 tokenizer for synthetic scenes, first stage (128^2 crops).

vq-8-small (1024 x 8 l2-normalised codes): 256^2 -> 32x32 codes, 512^2 -> 64x64. At downsample 16 an
object of the smallest scenes (46 px at 256^2) spans three codes and comes back as a blob; at 8 it
spans six. Same data, losses and optimiser as ``vq_scenes_f16_fast``, bf16 autocast. Then
``vq_scenes_f8_full`` fine-tunes on whole images:

    tokenshuffle train-vq --config scenes-f8 --out runs/vq-scenes-f8 --threads 2            # 40 min
    tokenshuffle train-vq --config scenes-f8-full --out runs/vq-scenes-f8-full --threads 1  # 35 min

Measured here (2-core Xeon with AMX) after both stages, `tokenshuffle eval recon --scene-score`:
held-out 256^2 PSNR 34.62 dB, SSIM 0.976, usage 100 %, scene score 0.972; 512^2 36.48 dB, 0.987,
100 %, 1.000. After this stage alone the crops train to ~34 dB, but whole images come back with
blotchy interiors (GroupNorm statistics), which the second stage fixes.
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
