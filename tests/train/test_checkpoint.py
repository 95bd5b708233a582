"""checkpoint: every byte verified on load, fallback to the newest good one, no non-finite saves,
rotation that never removes the newest, leftovers of killed saves tidied."""

import json
import math

import pytest
import torch
from safetensors.torch import save_file

from tokenshuffle.integrity import CorruptCheckpoint, NonFiniteState
from tokenshuffle.model.config import LMConfig
from tokenshuffle.serialization import aside_path
from tokenshuffle.train import checkpoint as ckpt

CONFIG = LMConfig.preset("tiny", image_vocab_size=64, max_grid_size=16, max_text_len=16)


def _save(run, step, *, keep_last=5, value=1.0):
    model = {"w": torch.full((64, 64), value), "b": torch.zeros(64)}
    optim = {"state": {"w": {"exp_avg": torch.zeros(64, 64), "step": torch.tensor(3.0)}},
             "param_groups": [{"lr": 0.1, "params": ["w"]}]}
    trainer = {"samples_seen": 4 * step, "train_config": {"lr": 0.1}, "bad_in_row": 0, "num_bad": 0}
    return ckpt.save_checkpoint(run, step=step, lm_config=CONFIG, model_state=model, optim_state=optim,
                                trainer=trainer, keep_last=keep_last)


def _flip(path, offset):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("name, offset", [(ckpt.WEIGHTS_NAME, -100), (ckpt.STATE_NAME, -3), (ckpt.CONFIG_NAME, 5),
                                          (ckpt.TRAINER_NAME, 40)])
def test_one_flipped_bit_in_any_file_is_caught_and_named(tmp_path, name, offset):
    path = _save(tmp_path, 2)
    ckpt.load_checkpoint(path)
    size = (path / name).stat().st_size
    _flip(path / name, offset)
    assert (path / name).stat().st_size == size
    with pytest.raises(CorruptCheckpoint, match=f"{name}.*(sha256|JSON|Expecting|corrupt)"):
        ckpt.load_checkpoint(path)


def test_newest_good_checkpoint_skips_damaged_ones_and_says_why(tmp_path):
    for step in (2, 4, 6):
        _save(tmp_path, step)
    six, four = ckpt.checkpoint_dir(tmp_path) / "step_00000006", ckpt.checkpoint_dir(tmp_path) / "step_00000004"
    _flip(six / ckpt.WEIGHTS_NAME, -1)
    (four / ckpt.STATE_NAME).write_bytes((four / ckpt.STATE_NAME).read_bytes()[:100])
    good, skipped = ckpt.newest_good_checkpoint(tmp_path)
    assert good.name == "step_00000002"
    assert [(p.name, "sha256" in why or "truncated" in why) for p, why in skipped] == [
        ("step_00000006", True), ("step_00000004", True)]
    assert ckpt.set_aside(six).name == "step_00000006.corrupt"
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["step_00000002", "step_00000004"]


def test_legacy_checkpoints_with_sizes_only_still_load_but_nan_is_refused(tmp_path):
    path = _save(tmp_path, 2)
    meta = json.loads((path / ckpt.TRAINER_NAME).read_text())
    meta = {**meta, "format": "tokenshuffle-lm-train/1",
            "files": {n: r["bytes"] for n, r in meta["files"].items()}}
    meta.pop("sha256")
    (path / ckpt.TRAINER_NAME).write_text(json.dumps(meta))
    assert ckpt.load_checkpoint(path)["trainer"]["step"] == 2
    legacy = _save(tmp_path / "nan", 2)
    (legacy / ckpt.TRAINER_NAME).write_text(json.dumps(meta))
    save_file({"w": torch.full((64, 64), math.nan), "b": torch.zeros(64)}, str(legacy / ckpt.WEIGHTS_NAME),
              metadata={"format": "pt"})  # same size: only the values changed
    with pytest.raises(CorruptCheckpoint, match="non-finite values"):
        ckpt.load_checkpoint(legacy)


def test_non_finite_state_is_never_saved_and_the_last_good_checkpoint_stays(tmp_path):
    _save(tmp_path, 2, keep_last=1)
    with pytest.raises(NonFiniteState, match="non-finite values in w"):
        _save(tmp_path, 4, keep_last=1, value=math.inf)
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["step_00000002"]
    assert not list(ckpt.checkpoint_dir(tmp_path).glob(".*"))


def test_rotation_keeps_the_new_one_and_those_just_before_it_never_newer_ones(tmp_path):
    for step in (2, 4, 6):
        _save(tmp_path, step, keep_last=2)
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["step_00000004", "step_00000006"]
    _save(tmp_path, 5, keep_last=1)  # a resume from an older step re-saving below a newer folder
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["step_00000005", "step_00000006"]


def test_tidy_puts_back_a_checkpoint_caught_between_two_renames_and_removes_leftovers(tmp_path):
    path = _save(tmp_path, 2)
    root = ckpt.checkpoint_dir(tmp_path)
    path.rename(aside_path(path))  # a crash right after replace_dir's first fallback rename
    (root / ".step_00000004.x1.tmp").mkdir()  # a save killed half-way
    (root / ".step_00000000.77.trash").mkdir()  # a rotation killed half-way
    assert ckpt.list_checkpoints(tmp_path) == []
    ckpt.tidy_checkpoints(tmp_path)
    assert [p.name for p in root.iterdir()] == ["step_00000002"]
    ckpt.load_checkpoint(path)
