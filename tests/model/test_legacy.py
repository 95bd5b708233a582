import torch

import tokenshuffle as ts
from tokenshuffle.model.io import load_lm
from tokenshuffle.model.legacy import fuse_legacy_list, fuse_legacy_names, join_moments
from tokenshuffle.sequence import make_batch, teacher_forced


def unfuse(state: dict, cfg) -> dict:
    """Our state dict under the names of before the fused projections (what older LM folders hold)."""
    hd = cfg.dim // cfg.num_heads
    out = {}
    for k, v in state.items():
        if k.endswith("attention.wqkv.weight"):
            p = k[: -len("wqkv.weight")]
            sizes = [cfg.num_heads * hd, cfg.kv_heads * hd, cfg.kv_heads * hd]
            for name, part in zip("qkv", v.split(sizes), strict=True):
                out[f"{p}w{name}.weight"] = part.clone()
        elif k.endswith("feed_forward.w13.weight"):
            p = k[: -len("w13.weight")]
            out[f"{p}w1.weight"], out[f"{p}w3.weight"] = (t.clone() for t in v.chunk(2))
        else:
            out[k] = v
    return out


def test_an_lm_folder_saved_before_the_fused_projections_loads_and_computes_the_same(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    lm = ts.TokenShuffleLM(ts.LMConfig.preset("tiny", shuffle_window=2)).eval()  # grouped-query: Hkv < H
    old = unfuse(lm.state_dict(), lm.config)
    assert "decoder.layers.0.attention.wq.weight" in old and "decoder.layers.0.feed_forward.w1.weight" in old
    folder = tmp_path / "lm"
    folder.mkdir()
    (folder / "config.json").write_text(lm.config.to_json())
    save_file({k: v.contiguous() for k, v in old.items()}, str(folder / "model.safetensors"))
    loaded = load_lm(folder)
    batch = make_batch([[3, 4]], torch.randint(0, lm.config.image_vocab_size, (1, 4, 4)), lm=lm)
    with torch.no_grad():
        assert torch.equal(teacher_forced(loaded, batch)[1], teacher_forced(lm, batch)[1])
    assert fuse_legacy_names(lm.state_dict()).keys() == lm.state_dict().keys()  # already fused: unchanged


def test_old_optimiser_moments_and_names_fuse_in_model_order():
    cfg = ts.LMConfig.preset("tiny")
    lm = ts.TokenShuffleLM(cfg)
    old_names = list(unfuse(dict(lm.named_parameters()), cfg))
    assert fuse_legacy_list(old_names) == [n for n, _ in lm.named_parameters()]
    moments = {n: {"exp_avg": torch.full((2,), float(i)), "step": torch.tensor(7.0)}
               for i, n in enumerate(("a.attention.wq.weight", "a.attention.wk.weight", "a.attention.wv.weight"))}
    fused = fuse_legacy_names(moments, join=join_moments)
    assert list(fused) == ["a.attention.wqkv.weight"]
    assert fused["a.attention.wqkv.weight"]["exp_avg"].tolist() == [0, 0, 1, 1, 2, 2]
    assert fused["a.attention.wqkv.weight"]["step"].item() == 7.0
