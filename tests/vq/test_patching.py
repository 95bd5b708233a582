import dataclasses

import pytest
import torch
import torch.nn.functional as F

from tokenshuffle.vq import VQConfig, VQTokenizer
from tokenshuffle.vq.patching import is_patch_of, patched
from tokenshuffle.vq.train import train_vq
from tokenshuffle.vq.train_config import VQTrainConfig


def _tokenizer(seed=0):
    torch.manual_seed(seed)
    return VQTokenizer(VQConfig.preset("vq-8-tiny")).eval()


def test_patch_size_sets_the_downsample_factor_and_checks_sizes():
    cfg = VQConfig.preset("vq-8-tiny", patch_size=2)
    model = VQTokenizer(cfg).eval()
    assert cfg.downsample == 16 and model.grid_size(64, 96) == (4, 6)
    x = torch.rand(2, 3, 64, 96) * 2 - 1
    codes = model.encode(x)
    assert codes.shape == (2, 4, 6) and model.decode(codes).shape == (2, 3, 64, 96)
    with pytest.raises(ValueError, match=r"72x72.*downsample factor 16"):
        model.encode(torch.zeros(1, 3, 72, 72))
    with pytest.raises(ValueError, match="patch_size"):
        VQConfig.preset("vq-8-tiny", patch_size=0)


def test_patched_equals_the_parent_on_a_smaller_image():
    vq = _tokenizer()
    big = patched(vq, patch_size=2)
    assert big.config == dataclasses.replace(vq.config, patch_size=2) and is_patch_of(vq.config, big.config)
    x = torch.rand(2, 3, 64, 48) * 2 - 1
    small = F.avg_pool2d(x, 2)  # (2, 3, 32, 24)
    z_big = big.quant_proj(big.encoder(x))
    z_small = vq.quant_proj(vq.encoder(small))
    torch.testing.assert_close(z_big, z_small, atol=1e-5, rtol=1e-4)
    codes = vq.encode(small)
    assert torch.equal(big.encode(x), codes)
    expected = F.interpolate(vq.decode(codes), scale_factor=2, mode="nearest")
    torch.testing.assert_close(big.decode(codes), expected, atol=1e-5, rtol=1e-4)
    # A fresh tokenizer with the same stem is something else: the equality comes from the weights.
    assert not torch.allclose(VQTokenizer(big.config).eval().decode(codes), expected, atol=1e-2)


def test_patched_rejects_a_patched_tokenizer():
    big = patched(_tokenizer(), patch_size=2)
    with pytest.raises(ValueError, match="already has patch_size=2"):
        patched(big, patch_size=2)
    assert not is_patch_of(big.config, big.config)
    assert not is_patch_of(VQConfig.preset("vq-8-tiny"), VQConfig.preset("vq-16-tiny", patch_size=2))


def test_decoder_fine_tune_from_an_unpatched_parent_keeps_the_codes(tmp_path):
    parent = _tokenizer(seed=3)
    parent.save_pretrained(tmp_path / "parent")
    cfg = VQTrainConfig(
        vq=VQConfig.preset("vq-8-tiny", patch_size=2), image_sizes=(64,), crop_size=0, batch_size=2, num_steps=3,
        warmup_steps=1, lr=1e-2, restart_every=1, sample_every=3, ckpt_every=3, log_every=1,
        init_from=str(tmp_path / "parent"), train_parts="decoder",
    )
    out = VQTokenizer.from_pretrained(train_vq(cfg, out=tmp_path / "run", device="cpu"))
    start = patched(parent, patch_size=2)
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    assert torch.equal(out.encode(x), start.encode(x))  # encoder, projection and codebook untouched
    trained, initial = out.state_dict(), start.state_dict()
    assert all(torch.equal(trained[k], initial[k]) for k in initial if not k.startswith(("decoder", "post_quant")))
    assert not torch.equal(trained["decoder.conv_out.weight"], initial["decoder.conv_out.weight"])


def test_train_parts_is_checked():
    with pytest.raises(ValueError, match="train_parts"):
        VQTrainConfig(vq=VQConfig.preset("vq-8-tiny"), train_parts="encoder")
    with pytest.raises(ValueError, match="needs init_from"):
        VQTrainConfig(vq=VQConfig.preset("vq-8-tiny"), train_parts="decoder")
