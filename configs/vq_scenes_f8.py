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

import dataclasses
from pathlib import Path

from tokenshuffle.vq.config import VQConfig
from tokenshuffle.vq.train_config import load_recipe

BASE = load_recipe(str(Path(__file__).with_name("vq_scenes_f16_fast.py")))
CONFIG = dataclasses.replace(
    BASE,
    vq=VQConfig.preset("vq-8-small"),
    num_steps=5000,
    precision="bf16",
    sample_every=1000,
    ckpt_every=500,
)
