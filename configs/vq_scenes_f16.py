"""vq-scenes-f16: the small downsample-16 tokenizer of the shipped demo, trained on synthetic scenes.

vq-16-small (3.1 M parameters, 1024 x 8 l2-normalised codes): 256^2 -> 16x16 codes, 512^2 -> 32x32.
128^2 crops of scenes rendered at 256^2 (and now and then at 512^2, so objects come at two scales),
L1 + L2 + codebook/commitment losses, dead-code restart, no GAN. Run:

    nice -n 5 tokenshuffle train-vq --config scenes-f16 --out runs/vq-scenes-f16 --threads 1

Measured here (2 shared CPU cores, 1 thread, 29.5 min wall, 17 CPU-min): held-out 256^2 PSNR
24.75 dB, SSIM 0.936, codebook usage 99.8 %, scene-evaluator score of the reconstructions 0.35. The
model leaves the mean-image plateau (PSNR ~17) only after ~500 steps; PSNR >= 30 dB needs a much
longer run than this budget allows.
"""

from tokenshuffle.vq.config import VQConfig
from tokenshuffle.vq.train_config import VQTrainConfig

CONFIG = VQTrainConfig(
    vq=VQConfig.preset("vq-16-small"),
    data="scenes",
    image_sizes=(256, 256, 256, 512),
    crop_size=128,
    batch_size=8,
    num_steps=2400,
    lr=4e-4,
    min_lr_ratio=0.05,
    warmup_steps=100,
    restart_every=50,
    restart_until=0.8,
    sample_every=250,
    ckpt_every=250,
    log_every=25,
    seed=0,
)
