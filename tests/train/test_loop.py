import json
import math

import pytest
import torch

import tokenshuffle.train.distributed as D
from tokenshuffle.model.io import load_lm
from tokenshuffle.train import checkpoint as ckpt
from tokenshuffle.train.build import build_lm
from tokenshuffle.train.config import load_recipe
from tokenshuffle.train.loop import TrainingStopped, train


def _cfg(*sets):
    return load_recipe("smoke").override(["num_steps=6", "ckpt_every=3", "eval_every=0", *sets])


def test_checkpoints_keep_last_k_and_reject_truncated_or_foreign(tmp_path):
    train(_cfg("num_steps=9", "keep_last=2"), out=tmp_path, progress=False)
    found = ckpt.list_checkpoints(tmp_path)
    assert [p.name for p in found] == ["step_00000006", "step_00000009"]
    state = ckpt.load_checkpoint(found[-1])
    assert state["trainer"]["samples_seen"] == 9 * 4 and state["trainer"]["step"] == 9
    assert set(state["optim"]["state"]) == {n for n, _ in load_lm(tmp_path / "lm").named_parameters()}
    with pytest.raises(ValueError, match=r"already holds a run \(checkpoints, metrics.jsonl.*pass --resume"):
        train(_cfg(), out=tmp_path, progress=False)
    with pytest.raises(ValueError, match=r"--resume: lm.dim \(64 -> 96\) cannot change"):
        train(_cfg("lm.dim=96", "num_steps=12"), out=tmp_path, resume=True, progress=False)
    weights = found[-1] / ckpt.WEIGHTS_NAME
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ValueError, match="truncated or corrupt: model.safetensors has 1000 bytes"):
        ckpt.load_checkpoint(found[-1])
    (found[0] / ckpt.TRAINER_NAME).write_text(json.dumps({"format": "other-trainer/3"}))
    with pytest.raises(ValueError, match="not a tokenshuffle training checkpoint"):
        ckpt.load_checkpoint(found[0])
    with pytest.raises(ValueError, match="not a tokenshuffle training checkpoint"):
        ckpt.load_checkpoint(tmp_path / "lm")


def test_nonfinite_losses_skip_steps_then_stop_with_a_resumable_checkpoint(tmp_path, monkeypatch):
    real = D.lm_loss

    def poisoned(lm, batch, *, loss):
        total, metrics = real(lm, batch, loss=loss)
        return total * math.nan, {**metrics, "loss": math.nan}

    monkeypatch.setattr(D, "lm_loss", poisoned)
    with pytest.raises(TrainingStopped, match="3 non-finite losses in a row at step 3"):
        train(_cfg("max_bad_steps=3"), out=tmp_path, progress=False)
    state = ckpt.load_checkpoint(ckpt.latest_checkpoint(tmp_path))
    assert state["trainer"]["num_bad"] == 3
    fresh = build_lm(_cfg())[0].state_dict()
    assert all(torch.equal(fresh[k], v) for k, v in state["model"].items())  # no update was applied


def test_stage_two_carries_decoder_and_embeddings_over(tmp_path):
    train(_cfg(), out=tmp_path / "s1", progress=False)
    stage2 = _cfg("lm.shuffle_window=2", f"init_from={tmp_path / 's1'}", "height=128", "width=128", "num_steps=1",
                  "lr=1e-9", "warmup_steps=0", "weight_decay=0")
    train(stage2, out=tmp_path / "s2", progress=False)
    parent = load_lm(tmp_path / "s1" / "lm").state_dict()
    child = load_lm(tmp_path / "s2" / "lm").state_dict()
    assert any(k.startswith("shuffle.") for k in child) and not any(k.startswith("shuffle.") for k in parent)
    for k in ("tok_embeddings.weight", "decoder.layers.1.attention.wqkv.weight", "output.weight"):
        torch.testing.assert_close(child[k], parent[k], atol=1e-6, rtol=0)
    start = json.loads((tmp_path / "s2" / "metrics.jsonl").read_text().splitlines()[0])
    assert start["carried"] == len(parent) and start["new_params"] > 0


def test_scenes_run_writes_sample_grids_and_heldout_bits(tmp_path):
    from PIL import Image

    from tokenshuffle.vq import VQConfig, VQTokenizer

    torch.manual_seed(0)
    VQTokenizer(VQConfig.preset("vq-16-tiny")).save_pretrained(tmp_path / "vq")
    cfg = _cfg("data=scenes", f"vq={tmp_path / 'vq'}", "num_steps=2", "sample_every=2", "num_sample_images=2",
               "eval_every=2", "num_eval_samples=4", "num_samples=8")
    last = train(cfg, out=tmp_path / "run", progress=False)
    grid = Image.open(tmp_path / "run" / "samples" / "step_00000002.png")
    assert grid.size == (2 * 64, 64)
    assert 0 < last["eval_bits_per_token"] < 12


def test_scene_style_reaches_the_on_the_fly_sources(tmp_path):
    from tokenshuffle.data.scene_style import STYLES
    from tokenshuffle.train.build import make_sources
    from tokenshuffle.vq import VQConfig, VQTokenizer

    VQTokenizer(VQConfig.preset("vq-16-tiny")).save_pretrained(tmp_path / "vq")
    cfg = _cfg("data=scenes", f"vq={tmp_path / 'vq'}", "scene_style=canonical")
    train_src, heldout, _ = make_sources(cfg, build_lm(cfg)[0], torch.device("cpu"))
    assert train_src.scenes.style == heldout.scenes.style == STYLES["canonical"]


def test_resume_applies_every_changed_setting_and_records_it(tmp_path, capsys):
    from tokenshuffle.schedules import warmup_cosine_lr

    train(_cfg(), out=tmp_path, progress=False)
    changed = _cfg("num_steps=9", "lr=1e-2", "batch_size=8", "betas=[0.5, 0.9]")
    train(changed, out=tmp_path, resume=True, progress=False)
    err = capsys.readouterr().err
    assert ("resuming from step_00000006 (step 6); changed settings applied from here on: batch_size 4 -> 8, "
            "betas [0.9, 0.95] -> [0.5, 0.9], lr 0.003 -> 0.01, num_steps 6 -> 9") in err
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    resume = next(r for r in records if r.get("event") == "resume")
    assert resume["step"] == 6 and resume["changed"]["lr"] == [0.003, 0.01]
    lrs = {r["step"]: r["lr"] for r in records if "lr" in r}
    assert lrs[7] == warmup_cosine_lr(6, peak=1e-2, warmup_steps=4, num_steps=9, min_lr_ratio=0.1)
    assert json.loads((tmp_path / "train_config.json").read_text())["lr"] == 1e-2
    state = ckpt.load_checkpoint(ckpt.latest_checkpoint(tmp_path))
    assert state["trainer"]["samples_seen"] == 6 * 4 + 3 * 8
    assert state["optim"]["param_groups"][0]["betas"] == [0.5, 0.9]
    with pytest.raises(ValueError, match=r"--resume: init_from \(.* -> 'elsewhere'\) cannot change"):
        train(_cfg("num_steps=12", "init_from=elsewhere"), out=tmp_path, resume=True, progress=False)


def test_resume_in_a_folder_without_checkpoints_starts_at_step_zero(tmp_path, capsys):
    (tmp_path / "metrics.jsonl").write_text('{"step": 0, "event": "start"}\n{"step": 1, "loss": 9.0}\n{"st')
    train(_cfg("num_steps=2"), out=tmp_path, resume=True, progress=False)
    assert "no checkpoint in" in capsys.readouterr().err
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records] == [0, 1, 2] and records[1]["loss"] != 9.0  # the old try's log dropped


def test_non_finite_weights_are_not_saved_and_the_run_stops(tmp_path, monkeypatch):
    real_step = torch.optim.AdamW.step

    def poisoning_step(self, *a, **kw):
        out = real_step(self, *a, **kw)
        if self.state[self.param_groups[0]["params"][0]]["step"] >= 4:
            with torch.no_grad():
                self.param_groups[0]["params"][0].fill_(math.inf)
        return out

    monkeypatch.setattr(torch.optim.AdamW, "step", poisoning_step)
    with pytest.raises(TrainingStopped, match=r"non-finite at step 6 \(.*\); not saved, .*step_00000003 stays"):
        train(_cfg(), out=tmp_path, progress=False)
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["step_00000003"]
