import dataclasses

import pytest

from tokenshuffle.train.config import TrainConfig, load_recipe
from tokenshuffle.train.optim import build_optimizer, lr_at, param_groups


def test_override_sets_nested_and_typed_values():
    cfg = load_recipe("smoke").override(["lr=1e-4", "lm.qk_norm=true", "betas=[0.8, 0.9]", "data=random"])
    assert cfg.lr == 1e-4 and cfg.lm.qk_norm and cfg.betas == (0.8, 0.9)
    with pytest.raises(ValueError, match="lrr: unknown setting; valid: .*lr"):
        cfg.override(["lrr=1"])
    with pytest.raises(ValueError, match="lm.dimm: unknown setting"):
        cfg.override(["lm.dimm=3"])
    with pytest.raises(ValueError, match="expected a number"):
        cfg.override(["lr=fast"])
    with pytest.raises(ValueError, match="expected true or false"):
        cfg.override(["compile=1"])
    with pytest.raises(ValueError, match="precision must be one of auto, fp32, bf16"):
        cfg.override(["precision=fp16"])
    with pytest.raises(ValueError, match="batch_size=6 must be divisible by grad_accum=4"):
        cfg.override(["batch_size=6", "grad_accum=4"])


def test_unknown_recipe_lists_the_available_ones():
    with pytest.raises(ValueError, match="no such recipe; available: .*smoke"):
        load_recipe("nope")


def test_scenes_need_a_vq():
    with pytest.raises(ValueError, match="needs vq="):
        TrainConfig(data="scenes", vq="")


def test_lr_at_is_the_shared_schedule_of_the_config():
    cfg = load_recipe("smoke").override(["lr=2.0", "warmup_steps=10", "num_steps=110", "min_lr_ratio=0.1"])
    assert [lr_at(s, cfg) for s in (0, 9, 60, 110)] == pytest.approx([0.2, 2.0, 1.1, 0.2])


def test_optimizer_skips_decay_on_gains_and_biases():
    import tokenshuffle as ts

    cfg = load_recipe("smoke")
    lm = ts.TokenShuffleLM(cfg.lm)
    decay, no_decay = param_groups(lm, weight_decay=0.1)
    assert all(p.ndim == 2 for p in decay["params"]) and all(p.ndim == 1 for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(lm.parameters()))
    opt = build_optimizer(lm, cfg)
    assert opt.defaults.get("fused")  # torch has a fused AdamW kernel for CPU parameters too


def test_fused_adamw_steps_like_the_reference_implementation():
    import torch

    from tokenshuffle.train.optim import adamw

    torch.manual_seed(0)
    a, b = torch.nn.Linear(16, 16), torch.nn.Linear(16, 16)
    b.load_state_dict(a.state_dict())
    fused = adamw([{"params": list(a.parameters())}], lr=1e-2)
    plain = torch.optim.AdamW(b.parameters(), lr=1e-2, foreach=False)
    for _ in range(5):
        x = torch.randn(4, 16)
        for model, opt in ((a, fused), (b, plain)):
            opt.zero_grad()
            model(x).pow(2).mean().backward()
            opt.step()
    assert fused.defaults["fused"] and torch.allclose(a.weight, b.weight, atol=1e-6)


def test_staged_recipes_chain_their_parents():
    s1, s2, s3 = (load_recipe(f"scenes-stage{i}") for i in (1, 2, 3))
    assert (s1.lm.shuffle_window, s2.lm.shuffle_window, s3.lm.shuffle_window) == (1, 2, 2)
    assert s1.height < s2.height < s3.height
    assert s2.init_from.endswith("lm-scenes-stage1") and s3.init_from.endswith("lm-scenes-stage2")
    assert s3.z_loss_weight > 0 == s2.z_loss_weight
    assert s2.lm.dim == s1.lm.dim and s2.lm.image_vocab_size == s1.lm.image_vocab_size


def test_canonical_stage_continues_the_demo_recipe():
    demo, canon = load_recipe("scenes-t2i-demo"), load_recipe("scenes-t2i-canon")
    assert canon.lm == demo.lm and canon.vq == demo.vq and canon.text_tokenizer == demo.text_tokenizer
    assert canon.init_from == "runs/t2i-demo" and "canon" in canon.data and "canon" in canon.eval_data


def test_scene_style_is_checked():
    assert TrainConfig(vq="v", scene_style="canonical").scene_style == "canonical"
    with pytest.raises(ValueError, match="scene_style must be one of textured, canonical, fixed"):
        TrainConfig(vq="v", scene_style="flat")


def test_fixed_stage_continues_the_canonical_decoder_on_fixed_scenes_and_the_patch_tokenizer():
    canon, fixed = load_recipe("scenes-t2i-canon"), load_recipe("scenes-t2i-fixed")
    assert fixed.lm == canon.lm and fixed.text_tokenizer == canon.text_tokenizer
    assert fixed.init_from == "runs/t2i-canon2" and fixed.vq == "runs/vq-scenes-f16-patch"
    assert "fixed" in fixed.data and "fixed" in fixed.eval_data and fixed.precision == "fp32"


def test_window_head_stage_continues_the_fixed_run_with_only_the_head_added():
    fixed, ar = load_recipe("scenes-t2i-fixed"), load_recipe("scenes-t2i-fixed-ar")
    assert ar.lm == dataclasses.replace(fixed.lm, window_ar=True) and not fixed.lm.window_ar
    assert ar.data == fixed.data and ar.vq == fixed.vq and ar.init_from.startswith("runs/t2i-fixed/")


def test_contrast_needs_a_rule_set_and_a_weight_together():
    assert TrainConfig(data="random", contrast="scenes", contrast_weight=1.0).contrast == "scenes"
    with pytest.raises(ValueError, match="contrast must be one of scenes"):
        TrainConfig(data="random", contrast="words", contrast_weight=1.0)
    for kw in ({"contrast": "scenes"}, {"contrast_weight": 1.0}):
        with pytest.raises(ValueError, match="set both"):
            TrainConfig(data="random", **kw)


def test_colour_weight_needs_the_colour_term():
    with_term = dataclasses.replace(TrainConfig(data="random").lm, prompt_colours=10)
    assert TrainConfig(data="random", lm=with_term, colour_weight=1.0).colour_weight == 1.0
    with pytest.raises(ValueError, match=r"colour_weight=1.0 .* needs lm.prompt_colours > 0"):
        TrainConfig(data="random", colour_weight=1.0)
