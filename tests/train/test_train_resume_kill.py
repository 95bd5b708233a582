"""A run killed with SIGKILL and resumed ends with exactly the weights of an uninterrupted run."""

import os
import signal
import subprocess
import sys
import time

import torch
from safetensors.torch import load_file

from tokenshuffle.train.checkpoint import latest_checkpoint

SETS = ["num_steps=40", "ckpt_every=4", "keep_last=3", "eval_every=20", "log_every=1", "caption_dropout=0.3",
        "num_samples=24", "height=128", "width=128", "batch_size=6", "grad_accum=2"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _cmd(out, *extra):
    sets = [a for s in SETS for a in ("--set", s)]
    return [sys.executable, "-m", "tokenshuffle.cli", "train", "--config", "smoke", "--out", str(out),
            "--no-progress", *sets, *extra]


def _losses(run):
    import json

    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [(r["step"], r["loss"]) for r in map(json.loads, lines) if "loss" in r]


def test_sigkill_then_resume_matches_uninterrupted(tmp_path):
    ref, cut = tmp_path / "ref", tmp_path / "cut"
    subprocess.run(_cmd(ref), env=ENV, check=True, capture_output=True)

    proc = subprocess.Popen(_cmd(cut), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while latest_checkpoint(cut) is None and proc.poll() is None and time.time() < deadline:
        time.sleep(0.002)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    killed_at = int(latest_checkpoint(cut).name[5:])
    assert killed_at < 40 and not (cut / "lm").exists()

    subprocess.run(_cmd(cut, "--resume"), env=ENV, check=True, capture_output=True)
    a, b = load_file(str(ref / "lm" / "model.safetensors")), load_file(str(cut / "lm" / "model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert _losses(ref) == _losses(cut) and len(_losses(ref)) == 40
