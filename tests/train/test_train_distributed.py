"""Two gloo processes under torchrun follow the same loss curve to the same weights as one process."""

import json
import os
import subprocess
import sys

import torch
from safetensors.torch import load_file

SETS = ["num_steps=8", "batch_size=4", "ckpt_every=8", "eval_every=4", "log_every=1", "caption_dropout=0.5"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _train(out, *launcher):
    sets = [a for s in SETS for a in ("--set", s)]
    cmd = [sys.executable, *launcher, "-m", "tokenshuffle.cli", "train", "--config", "smoke", "--out", str(out),
           "--no-progress", *sets]
    subprocess.run(cmd, env=ENV, check=True, capture_output=True, timeout=240)
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [r for r in records if "loss" in r], load_file(str(out / "lm" / "model.safetensors"))


def test_two_processes_match_one(tmp_path):
    one, w1 = _train(tmp_path / "one")
    two, w2 = _train(tmp_path / "two", "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2")
    assert [r["step"] for r in one] == [r["step"] for r in two] == list(range(1, 9))
    for a, b in zip(one, two, strict=True):
        for key in ("loss", "grad_norm", "lr", "eval_bits_per_token"):
            if key in a:
                assert abs(a[key] - b[key]) < 1e-5 * max(1, abs(a[key])), (a["step"], key, a[key], b[key])
    assert one[0]["loss"] != one[-1]["loss"]
    for k in w1:
        torch.testing.assert_close(w1[k], w2[k], atol=2e-5, rtol=1e-4)
