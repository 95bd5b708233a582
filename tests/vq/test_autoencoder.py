import pytest
import torch

import tokenshuffle as ts
from tokenshuffle.vq import VQConfig, VQTokenizer


def _tiny(**kw):
    torch.manual_seed(0)
    return VQTokenizer(VQConfig.preset("vq-16-tiny", **kw)).eval()


@pytest.mark.parametrize("height,width", [(16, 16), (32, 48), (64, 32)])
def test_encode_decode_shapes(height, width):
    model = _tiny()
    images = torch.rand(2, 3, height, width) * 2 - 1
    codes = model.encode(images)
    assert codes.shape == (2, height // 16, width // 16) and codes.dtype == torch.long
    assert 0 <= int(codes.min()) and int(codes.max()) < model.codebook_size
    recon = model.decode(codes)
    assert recon.shape == images.shape
    assert float(recon.abs().max()) <= 1.0


@pytest.mark.parametrize("preset", ["vq-8-tiny", "vq-8-small"])
def test_vq8_shapes(preset):
    torch.manual_seed(0)
    model = VQTokenizer(VQConfig.preset(preset)).eval()
    assert model.downsample == 8
    images = torch.rand(1, 3, 24, 40) * 2 - 1
    codes = model.encode(images)
    assert codes.shape == (1, 3, 5) and int(codes.max()) < model.codebook_size
    assert model.decode(codes).shape == images.shape


@pytest.mark.parametrize("height,width", [(250, 256), (256, 8), (30, 32)])
def test_bad_size_names_size_and_factor(height, width):
    model = _tiny()
    with pytest.raises(ValueError, match=rf"{height}x{width}.*downsample factor 16"):
        model.encode(torch.zeros(1, 3, height, width))


def test_bad_codes_rejected():
    model = _tiny()
    with pytest.raises(ValueError, match="codes must lie in"):
        model.decode(torch.full((1, 2, 2), model.codebook_size))
    with pytest.raises(ValueError, match="shape"):
        model.decode(torch.zeros(2, 2, dtype=torch.long))


def test_decode_matches_forward_and_codes_are_deterministic():
    model = _tiny()
    images = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
    out = model(images)
    assert torch.equal(out.codes, model.encode(images))
    torch.testing.assert_close(model.decode(out.codes), out.recon.clamp(-1, 1), atol=1e-5, rtol=1e-5)


def test_l2_normalised_codes():
    model = _tiny()
    norms = model.quantizer.embeddings().norm(dim=-1)
    torch.testing.assert_close(norms, torch.ones_like(norms))


def test_save_load_roundtrip(tmp_path):
    model = _tiny()
    model.save_pretrained(tmp_path / "vq")
    assert sorted(p.name for p in (tmp_path / "vq").iterdir()) == ["config.json", "model.safetensors"]
    loaded = ts.VQTokenizer.from_pretrained(tmp_path / "vq")
    assert loaded.config == model.config
    images = torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.equal(loaded.encode(images), model.encode(images))


def test_from_pretrained_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        VQTokenizer.from_pretrained(tmp_path)


def test_presets_match_llamagen_architecture():
    cfg16, cfg8 = VQConfig.preset("vq-16"), VQConfig.preset("vq-8")
    assert cfg16.channel_mult == (1, 1, 2, 2, 4) and cfg8.channel_mult == (1, 2, 2, 4)
    for cfg in (cfg16, cfg8):
        assert (cfg.base_channels, cfg.z_channels, cfg.codebook_size, cfg.codebook_dim) == (128, 256, 16384, 8)
        assert cfg.l2_norm and cfg.norm_groups == 32 and cfg.num_res_blocks == 2
    assert (cfg16.downsample, cfg8.downsample) == (16, 8)
    with torch.device("meta"):
        model = VQTokenizer(cfg16)
    assert sum(p.numel() for p in model.parameters()) == 71_883_403
    # attention only at the lowest resolution (plus the middle block)
    assert [len(level.attns) for level in model.encoder.levels] == [0, 0, 0, 0, 2]
    assert [len(level.attns) for level in model.decoder.levels] == [0, 0, 0, 0, 3]


def test_config_validation():
    with pytest.raises(ValueError, match="preset"):
        VQConfig.preset("vq-32")
    with pytest.raises(ValueError, match="norm_groups"):
        VQConfig(base_channels=24, norm_groups=32)
    with pytest.raises(ValueError, match="codebook_size"):
        VQConfig(codebook_size=1)
    with pytest.raises(ValueError, match="unknown VQConfig fields"):
        VQConfig.from_dict({"channels": 3})
    cfg = VQConfig.preset("vq-16-tiny")
    assert VQConfig.from_dict(cfg.to_dict()) == cfg


def test_channel_norm_keeps_a_flat_colour_that_group_norm_erases():
    from tokenshuffle.vq.blocks import ChannelNorm, group_norm

    flat = torch.tensor([1.0, -2.0, 0.5, 3.0]).view(1, 4, 1, 1).expand(1, 4, 8, 8)  # one colour everywhere
    other = torch.tensor([-1.0, 2.0, 0.0, 1.0]).view(1, 4, 1, 1).expand(1, 4, 8, 8)
    gn = group_norm(4, 4)
    assert torch.allclose(gn(flat), gn(other))  # one channel per group: both become the bias
    assert torch.allclose(group_norm(4, 2)(flat), group_norm(4, 2)(flat * 3 + 1))  # scale and offset gone
    cn = ChannelNorm(4)
    assert not torch.allclose(cn(flat), cn(other))
    ref = torch.nn.functional.layer_norm(flat[0, :, 0, 0], (4,), eps=1e-6)
    assert torch.allclose(cn(flat)[0, :, 3, 5], ref, atol=1e-6)
    assert isinstance(group_norm(4, 0), ChannelNorm)
    assert VQConfig.preset("vq-16-small", norm="channel").groups == 0 and VQConfig.preset("vq-16").groups == 32
    with pytest.raises(ValueError, match="norm"):
        VQConfig(norm="batch")


def test_patch_encoder_codes_depend_only_on_their_own_patch():
    torch.manual_seed(0)
    model = VQTokenizer(VQConfig.preset("vq-16-tiny", encoder="patch")).eval()
    conv = VQTokenizer(VQConfig.preset("vq-16-tiny")).eval()
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    y = x.clone()
    y[:, :, 16:, :] = torch.rand(1, 3, 48, 64) * 2 - 1  # everything but the top row of patches changes
    y[:, :, :16, 32:48] = x[:, :, :16, 0:16]  # and patch (0, 2) becomes a copy of patch (0, 0)
    a, b = model.encode(x), model.encode(y)
    assert torch.equal(a[0, 0, [0, 1, 3]], b[0, 0, [0, 1, 3]]) and b[0, 0, 2] == a[0, 0, 0]
    lat_x = model.quant_proj(model.encoder(x))
    lat_y = model.quant_proj(model.encoder(y))
    assert torch.allclose(lat_x[..., 0, :2], lat_y[..., 0, :2]) and torch.allclose(lat_y[..., 0, 2], lat_x[..., 0, 0])
    # The convolutional encoder (attention, GroupNorm) lets the rest of the image move those latents.
    conv_x, conv_y = (conv.quant_proj(conv.encoder(im))[..., 0, :2] for im in (x, y))
    assert not torch.allclose(conv_x, conv_y)
    assert model.decode(a).shape == (1, 3, 64, 64)


def test_encoder_kind_is_checked_and_saved(tmp_path):
    with pytest.raises(ValueError, match="encoder must be one of conv, patch"):
        VQConfig(encoder="mlp")
    model = VQTokenizer(VQConfig.preset("vq-8-tiny", patch_size=2, encoder="patch"))
    assert model.downsample == 16 and model.encoder.mlp[0].in_channels == 3 * 16 * 16
    model.save_pretrained(tmp_path / "vq")
    loaded = VQTokenizer.from_pretrained(tmp_path / "vq")
    x = torch.rand(2, 3, 32, 48) * 2 - 1
    assert loaded.config.encoder == "patch" and torch.equal(loaded.encode(x), model.eval().encode(x))
    # Folders saved before the field existed load as the convolutional encoder.
    assert VQConfig.from_dict({k: v for k, v in VQConfig().to_dict().items() if k != "encoder"}).encoder == "conv"
