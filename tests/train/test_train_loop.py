import json
import math

import pytest
import torch

import tokenshuffle.train.distributed as D
from tokenshuffle.serialization import load_lm
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
    for k in ("tok_embeddings.weight", "decoder.layers.1.attention.wq.weight", "output.weight"):
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
