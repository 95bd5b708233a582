"""Runs that are killed, signalled or find their newest checkpoint corrupted end, after ``--resume``,
with exactly the weights and loss curve of an uninterrupted run.

Trials are children of a forkserver that preloads ``resume_trials`` (see there), so each costs a
fork and a tiny run. ``keep_last=1`` makes every save also rotate the previous checkpoint away, the
riskiest moment for losing the last good one.
"""

import json
import multiprocessing
import re
import signal

import pytest
import torch
from safetensors.torch import load_file

from tokenshuffle.train.checkpoint import WEIGHTS_NAME, list_checkpoints

SETS = ["num_steps=6", "ckpt_every=2", "keep_last=1", "eval_every=0", "log_every=1", "batch_size=2",
        "num_samples=8", "caption_dropout=0.3"]


@pytest.fixture(scope="module")
def ctx():
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["tests.train.resume_trials"])
    return context


def _child(ctx, out, sets=SETS, **kw) -> int:
    from tests.train import resume_trials

    proc = ctx.Process(target=resume_trials.run, args=(str(out), sets), kwargs=kw)
    proc.start()
    proc.join(120)
    return proc.exitcode


def _result(run):
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    curve = [(r["step"], r["loss"], r["lr"]) for r in records if "loss" in r]
    return curve, load_file(str(run / "lm" / WEIGHTS_NAME))


def _assert_identical(a, b):
    (curve_a, w_a), (curve_b, w_b) = a, b
    assert curve_a == curve_b
    assert w_a.keys() == w_b.keys() and all(torch.equal(w_a[k], w_b[k]) for k in w_a)


@pytest.fixture(scope="module")
def reference(ctx, tmp_path_factory):
    """An uninterrupted run, and how many file operations it makes."""
    root = tmp_path_factory.mktemp("ref")
    assert _child(ctx, root / "run", count_file=str(root / "ops")) == 0
    result = _result(root / "run")
    assert len(result[0]) == 6 and len({loss for _, loss, _ in result[0]}) == 6
    return result, int((root / "ops").read_text())


def test_sigkill_at_every_file_operation_around_checkpoint_writes(ctx, reference, tmp_path):
    ref, num_ops = reference
    points = sorted({round(1 + i * (num_ops - 1) / 23) for i in range(24)})  # spread over every operation
    assert len(points) >= 20 and num_ops > 40  # 3 checkpoints, 2 rotations, the final lm/ and the logs
    for k in points:
        out = tmp_path / f"kill{k}"
        assert _child(ctx, out, kill_at=k) == -signal.SIGKILL, k
        assert _child(ctx, out, resume=True) == 0, k
        _assert_identical(ref, _result(out))
        assert list_checkpoints(out)[-1].name == "step_00000006", k  # (a kill before rotation leaves step 4 too)
        assert not [p.name for p in (out / "checkpoints").iterdir() if p.name.startswith(".")], k


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_sigint_and_sigterm_save_at_the_step_boundary_and_exit_128_plus_n(ctx, reference, tmp_path, signum, code):
    out, log = tmp_path / "run", tmp_path / "stderr"
    assert _child(ctx, out, signum=signum, signal_after_step=3, stderr=str(log)) == code
    err = log.read_text().strip().splitlines()
    name = signal.Signals(signum).name
    assert err == [f"tokenshuffle train: interrupted by {name} at step 3: saved {out}/checkpoints/step_00000003; "
                   "run the same command with --resume to continue"]
    assert [p.name for p in list_checkpoints(out)] == ["step_00000003"] and not (out / "lm").exists()
    assert _child(ctx, out, resume=True) == 0
    _assert_identical(reference[0], _result(out))


def test_a_signal_during_a_save_lets_the_save_finish_then_stops(ctx, reference, tmp_path):
    ref, num_ops = reference
    out = tmp_path / "run"
    assert _child(ctx, out, signal_at=num_ops // 2, signum=signal.SIGINT) == 130
    assert list_checkpoints(out) and not (out / "lm").exists()
    assert _child(ctx, out, resume=True) == 0
    _assert_identical(ref, _result(out))


def _flip_bytes_in_place(path, *, offset_from_end=64, count=16):
    data = bytearray(path.read_bytes())
    for i in range(len(data) - offset_from_end, len(data) - offset_from_end + count):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def test_corrupted_newest_checkpoints_are_skipped_and_the_run_ends_identical(ctx, reference, tmp_path):
    out = tmp_path / "run"
    sets = [s for s in SETS if not s.startswith("keep_last")] + ["keep_last=3"]
    assert _child(ctx, out, sets, signal_after_step=6 - 1) == 143  # stops at step 5: checkpoints 2, 4, 5
    assert [p.name[5:] for p in list_checkpoints(out)] == ["00000002", "00000004", "00000005"]
    newest, second = list_checkpoints(out)[-1], list_checkpoints(out)[-2]
    size = (newest / WEIGHTS_NAME).stat().st_size
    _flip_bytes_in_place(newest / WEIGHTS_NAME)  # inside the tensor data: safetensors still loads it
    assert (newest / WEIGHTS_NAME).stat().st_size == size
    trainer = (second / "trainer.json").read_text()
    edited = trainer.replace('"samples_seen": 8', '"samples_seen": 9')  # valid JSON, same size
    assert len(edited) == len(trainer) and edited != trainer
    (second / "trainer.json").write_text(edited)
    assert _child(ctx, out, sets, resume=True, stderr=str(tmp_path / "stderr")) == 0
    err = (tmp_path / "stderr").read_text()
    assert re.search(r"--resume skipped step_00000005: .*model.safetensors does not match its sha256 .*"
                     r"renamed it step_00000005.corrupt", err)
    assert re.search(r"--resume skipped step_00000004: .*trainer.json does not match its sha256", err)
    assert "resuming from step_00000002 (step 2)" in err
    assert (out / "checkpoints" / "step_00000005.corrupt").is_dir()
    _assert_identical(reference[0], _result(out))
