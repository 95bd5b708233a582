"""vq-scenes-f16-fast: vq-scenes-f16 retuned for an idle 2-core CPU (2 threads).

Same tokenizer (vq-16-small) and data as ``vq_scenes_f16``; a higher peak learning rate with Adam
betas (0.5, 0.9) and more steps, which an idle machine at 2 threads (~4 steps/s) affords. Run:

    nice -n 5 tokenshuffle train-vq --config scenes-f16-fast --out runs/vq-scenes-f16-fast --threads 2

Measured here (idle 2-core CPU, 2 threads, 17.9 min wall, 4400 steps): held-out 256^2 PSNR 25.03 dB,
SSIM 0.942, usage 97.5 %, scene score 0.434; 512^2 PSNR 24.58 dB, SSIM 0.962, usage 96.9 %, scene
score 0.546. Leaves the mean-image plateau at ~800 steps, no sooner than vq_scenes_f16.
"""

import dataclasses
from pathlib import Path

from tokenshuffle.vq.train_config import load_recipe

BASE = load_recipe(str(Path(__file__).with_name("vq_scenes_f16.py")))
CONFIG = dataclasses.replace(BASE, num_steps=4400, lr=8e-4, betas=(0.5, 0.9), sample_every=1100, ckpt_every=1100)
