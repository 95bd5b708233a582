import json

import pytest
import torch

from tokenshuffle.cli import main
from tokenshuffle.vq import VQConfig, VQTokenizer
from tokenshuffle.vq.checkpoint import load_state
from tokenshuffle.vq.losses import PatchDiscriminator, hinge_d_loss, hinge_g_loss, reconstruction_loss
from tokenshuffle.vq.train import train_vq
from tokenshuffle.vq.train_config import VQTrainConfig, load_recipe, recipe_names
from tokenshuffle.vq.trainer import lr_at


def _cfg(**kw):
    base = dict(vq=VQConfig.preset("vq-16-tiny"), image_sizes=(32,), crop_size=16, batch_size=2, num_steps=4,
                warmup_steps=1, restart_every=2, sample_every=2, ckpt_every=2, log_every=1)
    return VQTrainConfig(**{**base, **kw})


def test_train_writes_tokenizer_samples_and_resumes(tmp_path):
    cfg = _cfg()
    out = train_vq(cfg, out=tmp_path / "run", device="cpu")
    model = VQTokenizer.from_pretrained(out)
    assert model.config == cfg.vq
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["step_0000002.png", "step_0000004.png"]
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4] and all(r["loss"] == r["loss"] for r in log)
    assert load_state(out / "checkpoint")["step"] == 4
    # Resume: extending num_steps continues from step 4 instead of starting over.
    train_vq(cfg.override(["num_steps=6"]), out=out, device="cpu", resume=True)
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log][-2:] == [5, 6]
    assert load_state(out / "checkpoint")["step"] == 6


def test_gan_and_ema_paths(tmp_path):
    cfg = _cfg(disc_weight=0.5, disc_start=1, disc_channels=8, ema_decay=0.9, num_steps=2, crop_size=0)
    out = train_vq(cfg, out=tmp_path / "run", device="cpu")
    state = load_state(out / "checkpoint")
    assert {"ema", "disc", "opt_d"} <= set(state)
    assert state["disc"]["net.0.weight"].shape == (8, 3, 4, 4)  # disc_channels sets the first layer's width
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert "d" not in log[0] and "d" in log[1]
    saved = VQTokenizer.from_pretrained(out).state_dict()  # the EMA weights are what gets saved
    assert all(torch.equal(saved[k], v) for k, v in state["ema"].items())
    assert not all(torch.equal(saved[k], v) for k, v in state["model"].items())


def test_dead_code_restart_moves_unused_codes():
    model = VQTokenizer(VQConfig.preset("vq-16-tiny"))
    q = model.quantizer
    before = q.codebook.weight.detach().clone()
    dead = torch.zeros(q.codebook_size, dtype=torch.bool)
    dead[:5] = True
    latents = torch.nn.functional.normalize(torch.randn(10, q.dim), dim=-1)
    assert q.restart_codes(dead, latents, generator=torch.Generator().manual_seed(0)) == 5
    after = q.codebook.weight.detach()
    assert torch.equal(after[5:], before[5:]) and not torch.equal(after[:5], before[:5])
    # each restarted code sits next to one of the latents
    assert (torch.cdist(q.embeddings()[:5], latents).min(1).values < 0.1).all()


def test_losses():
    x = torch.zeros(1, 3, 4, 4)
    assert reconstruction_loss(x + 0.5, x).item() == pytest.approx(0.5 + 0.25)
    assert hinge_d_loss(torch.full((2,), 2.0), torch.full((2,), -2.0)).item() == 0.0
    assert hinge_d_loss(torch.zeros(2), torch.zeros(2)).item() == pytest.approx(1.0)
    assert hinge_g_loss(torch.full((2,), 3.0)).item() == -3.0
    assert PatchDiscriminator()(torch.zeros(2, 3, 64, 64)).shape == (2, 1, 6, 6)


def test_lr_schedule():
    cfg = _cfg(num_steps=100, warmup_steps=10, lr=1.0, min_lr_ratio=0.1)
    assert lr_at(cfg, 0) == pytest.approx(0.1) and lr_at(cfg, 10) == pytest.approx(1.0)
    assert lr_at(cfg, 100) == pytest.approx(0.1)


def test_config_overrides_and_recipes():
    cfg = _cfg().override(["batch_size=3", "vq.codebook_size=32", "betas=[0.5, 0.9]"])
    assert cfg.batch_size == 3 and cfg.vq.codebook_size == 32 and cfg.betas == (0.5, 0.9)
    with pytest.raises(ValueError, match="unknown setting"):
        _cfg().override(["batchsize=3"])
    with pytest.raises(ValueError, match="key=value"):
        _cfg().override(["batch_size"])
    with pytest.raises(ValueError, match="multiples of the downsample factor 16"):
        _cfg(crop_size=24)
    recipe = load_recipe("scenes-f16-p2")
    assert recipe.vq.downsample == 16 and recipe.vq.l2_norm and recipe.vq.codebook_size >= 1024
    with pytest.raises(ValueError, match="available: .*scenes-f16-p2"):
        load_recipe("nope")


def test_every_committed_recipe_loads():
    names = recipe_names()
    assert {"scenes-f8", "scenes-f8-full", "scenes-f16-p2", "scenes-f16-patch"} <= set(names)
    for name in names:
        recipe = load_recipe(name)
        assert recipe.vq.l2_norm and recipe.num_steps >= 1
    f8, f8_full = load_recipe("scenes-f8"), load_recipe("scenes-f8-full")
    assert f8.vq.downsample == 8 and f8.vq == f8_full.vq  # the second stage keeps the architecture
    assert f8_full.crop_size == 0 and f8_full.init_from == "runs/vq-scenes-f8"
    p2 = load_recipe("scenes-f16-p2")  # the demo's f16 tokenizer: the f8 one behind a 2x2 stem
    assert p2.vq.downsample == 16 and p2.vq.patch_size == 2 and p2.train_parts == "decoder"
    assert p2.init_from == "runs/vq-scenes-f8-full"


def test_cli_train_vq(tmp_path, capsys):
    rc = main(["train-vq", "--config", "scenes-f8", "--out", str(tmp_path / "run"), "--set", "num_steps=1",
               "--set", "vq=" + json.dumps(VQConfig.preset("vq-16-tiny").to_dict()), "--set", "image_sizes=[32]",
               "--set", "crop_size=16", "--set", "batch_size=1"])
    assert rc == 0 and (tmp_path / "run" / "model.safetensors").is_file()
    assert main(["train-vq", "--config", "scenes-f8", "--set", "crop_size=20"]) == 2
    assert "crop_size" in capsys.readouterr().err


def test_kmeans_init_puts_codes_on_the_latent_clusters():
    q = VQTokenizer(VQConfig.preset("vq-16-tiny", codebook_size=4, codebook_dim=2)).quantizer
    g = torch.Generator().manual_seed(0)
    centres = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]]), dim=-1)
    latents = torch.nn.functional.normalize(centres.repeat(50, 1) + 0.05 * torch.randn(200, 2, generator=g), dim=-1)
    q.init_from_latents(latents, generator=g)
    # every cluster gets its own code, within the noise of its centre
    assert (torch.cdist(centres, q.embeddings()).min(1).values < 0.05).all()
    q.init_from_latents(latents[:2], generator=g)  # fewer latents than codes: jittered copies
    assert (torch.cdist(q.embeddings(), latents[:2]).min(1).values < 0.1).all()
    with pytest.raises(ValueError, match="at least one latent"):
        q.init_from_latents(latents[:0], generator=g)


def test_bypassed_quantizer_passes_latents_and_warmup_then_quantizes(tmp_path):
    model = VQTokenizer(VQConfig.preset("vq-16-tiny"))
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    q = model.quantize(x, bypass=True)
    z = torch.nn.functional.normalize(model.quant_proj(model.encoder(x)), dim=1)
    assert torch.allclose(q.quantized, z, atol=1e-6) and not torch.allclose(q.quantized, model.quantize(x).quantized)
    cfg = _cfg(num_steps=4, quantizer_warmup=2, restart_every=0)
    log = tmp_path / "run" / "log.jsonl"
    out = train_vq(cfg, out=tmp_path / "run", device="cpu")
    before = VQTokenizer(cfg.vq).quantizer.codebook.weight  # same seed: the initial codebook
    after = VQTokenizer.from_pretrained(out).quantizer.codebook.weight
    assert not torch.allclose(before, after)  # the k-means init moved the codes
    commits = [json.loads(line)["commit"] for line in log.read_text().splitlines()]
    assert len(commits) == 4
    with pytest.raises(ValueError, match="quantizer_warmup"):
        _cfg(num_steps=4, quantizer_warmup=4)


@pytest.mark.parametrize("precision, dtype", [("fp32", torch.float32), ("auto", torch.float32),
                                              ("bf16", torch.bfloat16)])
def test_precision_autocasts_the_training_forward_on_cpu(tmp_path, monkeypatch, precision, dtype):
    seen = []

    def recording_loss(recon, x, **kw):
        seen.append(recon.dtype)
        return reconstruction_loss(recon, x, **kw)

    monkeypatch.setattr("tokenshuffle.vq.trainer.reconstruction_loss", recording_loss)
    out = train_vq(_cfg(num_steps=2, precision=precision), out=tmp_path / "run", device="cpu")
    assert seen == [dtype, dtype]
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in log)
    # the saved tokenizer stays fp32 whatever the training precision
    assert all(p.dtype == torch.float32 for p in VQTokenizer.from_pretrained(out).parameters())


def test_precision_rejects_unknown_names():
    with pytest.raises(ValueError, match="precision must be one of auto, fp32, bf16"):
        _cfg(precision="fp16")


def test_init_from_starts_a_new_stage_from_saved_weights(tmp_path):
    parent = train_vq(_cfg(num_steps=2), out=tmp_path / "parent", device="cpu")
    child = train_vq(_cfg(num_steps=1, lr=1e-12, warmup_steps=0, init_from=str(parent), restart_every=0),
                     out=tmp_path / "child", device="cpu")
    a, b = VQTokenizer.from_pretrained(parent).state_dict(), VQTokenizer.from_pretrained(child).state_dict()
    # one step at a vanishing learning rate leaves the parent's weights (a fresh model would not match)
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
    assert load_state(child / "checkpoint")["step"] == 1  # the schedule starts over
    with pytest.raises(ValueError, match="init_from .*not the recipe's vq"):
        train_vq(_cfg(num_steps=1, init_from=str(parent), vq=VQConfig.preset("vq-16-tiny", codebook_size=32)),
                 out=tmp_path / "other", device="cpu")


def test_encoder_stage_trains_a_new_encoder_against_the_frozen_codebook_and_decoder(tmp_path):
    parent = train_vq(_cfg(num_steps=2), out=tmp_path / "parent", device="cpu")
    patch_vq = VQConfig.preset("vq-16-tiny", encoder="patch")
    child = train_vq(_cfg(vq=patch_vq, train_parts="encoder", init_from=str(parent), num_steps=3),
                     out=tmp_path / "child", device="cpu")
    a, b = VQTokenizer.from_pretrained(parent), VQTokenizer.from_pretrained(child)
    assert b.config == patch_vq and b.config.encoder == "patch"
    sa, sb = a.state_dict(), b.state_dict()
    kept = [k for k in sb if not k.startswith(("encoder.", "quant_proj."))]
    assert kept and all(torch.equal(sa[k], sb[k]) for k in kept)  # codebook, post_quant_proj, decoder
    assert not torch.equal(sa["quant_proj.weight"], sb["quant_proj.weight"])  # quant_proj learnt
    log = [json.loads(line) for line in (child / "log.jsonl").read_text().splitlines()]
    assert all(torch.isfinite(torch.tensor(r["loss"])) for r in log)
    with pytest.raises(ValueError, match="distill_weight=0.5 needs train_parts='encoder'"):
        _cfg(distill_weight=0.5)
    with pytest.raises(ValueError, match="train_parts='encoder' fine-tunes part of a trained tokenizer"):
        _cfg(vq=patch_vq, train_parts="encoder")
    # Without train_parts="encoder" a parent with another encoder is not the recipe's tokenizer.
    with pytest.raises(ValueError, match="init_from .*not the recipe's vq"):
        train_vq(_cfg(vq=patch_vq, init_from=str(parent), num_steps=1), out=tmp_path / "other", device="cpu")


def test_distillation_pulls_the_new_encoder_onto_the_parent_latents(tmp_path):
    import torch.nn.functional as F

    parent = train_vq(_cfg(num_steps=2), out=tmp_path / "parent", device="cpu")
    patch_vq = VQConfig.preset("vq-16-tiny", encoder="patch")
    # Only the distillation term trains the encoder here (reconstruction and code losses off).
    kw = dict(vq=patch_vq, train_parts="encoder", init_from=str(parent), num_steps=30, lr=3e-3, warmup_steps=0,
              crop_size=0, batch_size=4, l1_weight=0.0, l2_weight=0.0, codebook_weight=0.0, restart_every=0,
              sample_every=30, ckpt_every=30, log_every=10, distill_weight=1.0)
    child = train_vq(_cfg(**kw), out=tmp_path / "distilled", device="cpu")
    assert "distill" in json.loads((child / "log.jsonl").read_text().splitlines()[0])
    teacher, student = VQTokenizer.from_pretrained(parent), VQTokenizer.from_pretrained(child)
    torch.manual_seed(0)
    fresh = VQTokenizer(patch_vq)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        target = F.normalize(teacher.quant_proj(teacher.encoder(x)), dim=1)
        dist = [(F.normalize(m.quant_proj(m.encoder(x)), dim=1) - target).pow(2).sum(1).mean()
                for m in (student, fresh)]
    assert dist[0] < 0.8 * dist[1]


def test_resume_convention_refuses_a_started_folder_and_applies_changed_settings(tmp_path, capsys):
    out = train_vq(_cfg(num_steps=2), out=tmp_path / "run", device="cpu")
    with pytest.raises(ValueError, match=r"already holds a run \(checkpoint, log.jsonl.*pass --resume"):
        train_vq(_cfg(num_steps=2), out=out, device="cpu")
    train_vq(_cfg(num_steps=3, betas=(0.5, 0.9)), out=out, device="cpu", resume=True)
    assert "changed settings applied from here on: betas [0.9, 0.95] -> [0.5, 0.9], num_steps 2 -> 3" in (
        capsys.readouterr().err)
    state = load_state(out / "checkpoint")
    assert state["step"] == 3 and all(g["betas"] == [0.5, 0.9] for g in state["opt"]["param_groups"])
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 2, 3] and log[2]["event"] == "resume"
    with pytest.raises(ValueError, match=r"--resume: vq.codebook_size \(64 -> 32\) cannot change"):
        train_vq(_cfg(num_steps=4, vq=VQConfig.preset("vq-16-tiny", codebook_size=32)), out=out, device="cpu",
                 resume=True)
    fresh = train_vq(_cfg(num_steps=1), out=tmp_path / "new", device="cpu", resume=True)  # nothing to resume
    assert load_state(fresh / "checkpoint")["step"] == 1


def test_a_checkpoint_changed_in_place_is_refused_on_resume(tmp_path):
    from tokenshuffle.integrity import CorruptCheckpoint

    out = train_vq(_cfg(num_steps=2), out=tmp_path / "run", device="cpu")
    state_file = out / "checkpoint" / "state.safetensors"
    data = bytearray(state_file.read_bytes())
    data[-10] ^= 0xFF
    state_file.write_bytes(bytes(data))
    with pytest.raises(CorruptCheckpoint, match="state.safetensors does not match its sha256"):
        train_vq(_cfg(num_steps=3), out=out, device="cpu", resume=True)


def test_sigint_saves_after_the_step_and_resume_continues(tmp_path, monkeypatch):
    import os
    import signal

    from tokenshuffle.signals import Interrupted
    from tokenshuffle.vq import trainer as vq_trainer

    real = vq_trainer.Trainer.train_step

    def step_then_signal(self, x):
        stats = real(self, x)
        if self.step == 1:
            os.kill(os.getpid(), signal.SIGINT)
        return stats

    monkeypatch.setattr(vq_trainer.Trainer, "train_step", step_then_signal)
    with pytest.raises(Interrupted, match="SIGINT at step 1: saved") as info:
        train_vq(_cfg(num_steps=4), out=tmp_path / "run", device="cpu")
    assert info.value.exit_code == 130 and load_state(tmp_path / "run" / "checkpoint")["step"] == 1
    monkeypatch.setattr(vq_trainer.Trainer, "train_step", real)
    train_vq(_cfg(num_steps=4), out=tmp_path / "run", device="cpu", resume=True)
    assert load_state(tmp_path / "run" / "checkpoint")["step"] == 4
