"""Two gloo processes under torchrun follow the same loss curve to the same weights as one process,
with DDP and with FSDP2 (``fully_shard`` per block, which also runs on CPU); the FSDP2 run is stopped
half-way and resumed from its gathered checkpoint."""

import json
import os
import subprocess
import sys

import torch
from safetensors.torch import load_file

# A constant lr, so a run of 4 steps resumed up to 8 follows the 8-step run's schedule.
SETS = ["num_steps=8", "batch_size=4", "ckpt_every=2", "eval_every=4", "log_every=1", "caption_dropout=0.5",
        "warmup_steps=0", "min_lr_ratio=1", "lr=1e-2"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
TORCHRUN = ("-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2")


def _train(out, *launcher, extra=(), flags=()):
    sets = [a for s in [*SETS, *extra] for a in ("--set", s)]
    cmd = [sys.executable, *launcher, "-m", "tokenshuffle.cli", "train", "--config", "smoke", "--out", str(out),
           "--no-progress", *sets, *flags]
    proc = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]


def _result(out):
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [r for r in records if "loss" in r], load_file(str(out / "lm" / "model.safetensors"))


def _assert_same(one, other):
    (curve1, w1), (curve2, w2) = one, other
    assert [r["step"] for r in curve1] == [r["step"] for r in curve2] == list(range(1, 9))
    for a, b in zip(curve1, curve2, strict=True):
        for key in ("loss", "grad_norm", "eval_bits_per_token"):
            if key in a:
                assert abs(a[key] - b[key]) < 1e-5 * max(1, abs(a[key])), (a["step"], key, a[key], b[key])
    for k in w1:
        torch.testing.assert_close(w1[k], w2[k], atol=2e-5, rtol=1e-4)


def test_ddp_and_fsdp_with_two_processes_match_one(tmp_path):
    _train(tmp_path / "one")
    one = _result(tmp_path / "one")
    assert len({r["loss"] for r in one[0]}) == 8  # a curve, not a constant
    _train(tmp_path / "ddp", *TORCHRUN, extra=["parallel=ddp"])
    _assert_same(one, _result(tmp_path / "ddp"))
    _train(tmp_path / "fsdp", *TORCHRUN, extra=["parallel=fsdp", "num_steps=4"])
    assert not (tmp_path / "fsdp" / "checkpoints" / "step_00000008").exists()
    _train(tmp_path / "fsdp", *TORCHRUN, extra=["parallel=fsdp"], flags=["--resume"])
    _assert_same(one, _result(tmp_path / "fsdp"))
