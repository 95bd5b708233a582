"""train-vq under torchrun (two gloo processes): ranks see different images, yet gradient averaging and
rank 0's codebook restarts keep every rank's weights identical; the CLI run writes one tokenizer."""

import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image

SCRIPT = r'''
import json, sys
from pathlib import Path
import torch
from tokenshuffle.cli import main
from tokenshuffle.vq import VQConfig, ddp
from tokenshuffle.vq import train as T
from tokenshuffle.vq.train_config import VQTrainConfig

out = Path(sys.argv[1])
info = ddp.setup("cpu")
cfg = VQTrainConfig(vq=VQConfig.preset("vq-16-tiny"), image_sizes=(32,), crop_size=0, batch_size=4, num_steps=4,
                    warmup_steps=1, restart_every=1, quantizer_warmup=1, disc_weight=0.1, disc_channels=8,
                    ema_decay=0.9)
trainer, _ = T._prepare(cfg, out / "unit", info, resume=False)
g = torch.Generator().manual_seed(100 + info.rank)  # each rank its own images
before = trainer.model.quantizer.codebook.weight.detach().clone()
for _ in range(3):
    trainer.train_step(torch.rand(2, 3, 32, 32, generator=g) * 2 - 1)
sums = {n: float(p.double().sum()) for n, p in
        [*trainer.model.state_dict().items(), *trainer.disc.state_dict().items()] if p.is_floating_point()}
moved = not torch.equal(before, trainer.model.quantizer.codebook.weight)
(out / f"rank{info.rank}.json").write_text(json.dumps({"sums": sums, "moved": moved}))
rc = main(["train-vq", "--config", "scenes-f8", "--data", sys.argv[2], "--out", str(out / "cli"),
           "--set", "vq.codebook_size=64", "--set", "image_sizes=[32]", "--set", "crop_size=16",
           "--set", "batch_size=2", "--set", "num_steps=2", "--set", "ckpt_every=1"])
sys.exit(rc)
'''


def test_train_vq_under_torchrun_keeps_ranks_in_step(tmp_path):
    data = tmp_path / "images"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(data / f"{i}.png")
    (data / "bad.png").write_bytes(b"junk")
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", str(script),
           str(tmp_path), str(data)]
    proc = subprocess.run(cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert r0["moved"] and r1["moved"]  # k-means start and restarts changed the codebook...
    assert r0["sums"] == r1["sums"]  # ...the same way on both ranks, and every weight agrees
    assert (tmp_path / "cli" / "model.safetensors").is_file()
    assert [json.loads(line)["step"] for line in (tmp_path / "cli" / "log.jsonl").read_text().splitlines()] == [2]
    assert proc.stdout.count("tokenizer saved to") == 1
