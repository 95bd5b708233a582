import re

import pytest
import torch

from tokenshuffle.vq import VQConfig, VQTokenizer
from tokenshuffle.vq.llamagen import (
    convert_llamagen,
    from_llamagen_state_dict,
    infer_config,
    llamagen_key_map,
    to_llamagen_state_dict,
)


def _expected_vq16_names() -> dict[str, tuple[int, ...]]:
    """LlamaGen's VQ-16 parameter names and shapes, spelled out from its naming scheme
    (taming layout: conv_blocks[i].res[j] / attn[j] / downsample|upsample, mid.0-2)."""
    ch, mult, z, num_res = 128, [1, 1, 2, 2, 4], 256, 2
    out: dict[str, tuple[int, ...]] = {}

    def conv(name, cin, cout, k):
        out[f"{name}.weight"], out[f"{name}.bias"] = (cout, cin, k, k), (cout,)

    def norm(name, c):
        out[f"{name}.weight"], out[f"{name}.bias"] = (c,), (c,)

    def res(name, cin, cout):
        norm(f"{name}.norm1", cin)
        conv(f"{name}.conv1", cin, cout, 3)
        norm(f"{name}.norm2", cout)
        conv(f"{name}.conv2", cout, cout, 3)
        if cin != cout:
            conv(f"{name}.nin_shortcut", cin, cout, 1)

    def attn(name, c):
        norm(f"{name}.norm", c)
        for p in ("q", "k", "v", "proj_out"):
            conv(f"{name}.{p}", c, c, 1)

    conv("encoder.conv_in", 3, ch, 3)
    cin = ch
    for i, m in enumerate(mult):
        for j in range(num_res):
            res(f"encoder.conv_blocks.{i}.res.{j}", cin, ch * m)
            cin = ch * m
            if i == len(mult) - 1:
                attn(f"encoder.conv_blocks.{i}.attn.{j}", cin)
        if i != len(mult) - 1:
            conv(f"encoder.conv_blocks.{i}.downsample.conv", cin, cin, 3)
    for side in ("encoder", "decoder"):
        res(f"{side}.mid.0", ch * mult[-1], ch * mult[-1])
        attn(f"{side}.mid.1", ch * mult[-1])
        res(f"{side}.mid.2", ch * mult[-1], ch * mult[-1])
    norm("encoder.norm_out", cin)
    conv("encoder.conv_out", cin, z, 3)
    conv("quant_conv", z, 8, 1)
    out["quantize.embedding.weight"] = (16384, 8)
    conv("post_quant_conv", 8, z, 1)
    conv("decoder.conv_in", z, ch * mult[-1], 3)
    cin = ch * mult[-1]
    for k, i in enumerate(reversed(range(len(mult)))):
        for j in range(num_res + 1):
            res(f"decoder.conv_blocks.{k}.res.{j}", cin, ch * mult[i])
            cin = ch * mult[i]
            if i == len(mult) - 1:
                attn(f"decoder.conv_blocks.{k}.attn.{j}", cin)
        if i != 0:
            conv(f"decoder.conv_blocks.{k}.upsample.conv", cin, cin, 3)
    norm("decoder.norm_out", cin)
    conv("decoder.conv_out", cin, 3, 3)
    return out


def test_vq16_key_names_and_shapes():
    mapping = llamagen_key_map(VQConfig.preset("vq-16"))
    ours = dict(mapping.values())
    expected = _expected_vq16_names()
    assert len(mapping) == len(ours) == 343  # one-to-one
    assert ours == expected


def test_key_map_details():
    mapping = llamagen_key_map(VQConfig.preset("vq-16"))
    assert mapping["decoder.levels.4.attns.2.proj.weight"][0] == "decoder.conv_blocks.0.attn.2.proj_out.weight"
    assert mapping["decoder.levels.3.blocks.0.skip.weight"] == ("decoder.conv_blocks.1.res.0.nin_shortcut.weight",
                                                               (256, 512, 1, 1))
    assert mapping["decoder.levels.1.resample.conv.bias"][0] == "decoder.conv_blocks.3.upsample.conv.bias"
    assert mapping["encoder.mid.attn.q.weight"][0] == "encoder.mid.1.q.weight"
    assert mapping["quantizer.codebook.weight"] == ("quantize.embedding.weight", (16384, 8))


def _randomised(model: VQTokenizer) -> VQTokenizer:
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.1 + (1.0 if re.search(r"norm\w*\.weight", name) else 0.0))
    return model.eval()


def test_numeric_round_trip_through_converter(tmp_path):
    cfg = VQConfig.preset("vq-16", base_channels=32, z_channels=32, codebook_size=64)
    model = _randomised(VQTokenizer(cfg))
    theirs = to_llamagen_state_dict(model)
    theirs["quantize.codebook_used"] = torch.zeros(65536)  # LlamaGen's logging buffer is ignored
    path = tmp_path / "vq_ds16.pt"
    torch.save({"model": theirs, "steps": 10}, path)
    out = convert_llamagen(path, tmp_path / "converted")
    back = VQTokenizer.from_pretrained(out)
    assert back.config == cfg  # architecture read off the shapes
    images = torch.rand(2, 3, 32, 48, generator=torch.Generator().manual_seed(1)) * 2 - 1
    codes = model.encode(images)
    assert torch.equal(back.encode(images), codes)
    assert len(codes.unique()) > 1
    torch.testing.assert_close(back.decode(codes), model.decode(codes), atol=0, rtol=0)


def test_infer_config_reads_vq8_layout():
    cfg = VQConfig.preset("vq-8", base_channels=32, z_channels=16, codebook_size=32, codebook_dim=4)
    with torch.device("meta"):
        state = to_llamagen_state_dict(VQTokenizer(cfg))
    assert infer_config(state) == cfg


def test_missing_and_unexpected_keys_are_listed():
    cfg = VQConfig.preset("vq-16-tiny", norm_groups=32, base_channels=32)
    theirs = to_llamagen_state_dict(VQTokenizer(cfg))
    del theirs["decoder.conv_blocks.0.attn.1.q.weight"]
    theirs["decoder.extra.weight"] = torch.zeros(1)
    with pytest.raises(ValueError, match=r"missing keys \['decoder.conv_blocks.0.attn.1.q.weight'\].*"
                                         r"unexpected keys \['decoder.extra.weight'\]"):
        from_llamagen_state_dict(theirs, config=cfg)


def test_bad_checkpoint_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        convert_llamagen(tmp_path / "nope.pt", tmp_path / "out")
    torch.save({"model": [1, 2]}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="state dict"):
        convert_llamagen(tmp_path / "bad.pt", tmp_path / "out")
