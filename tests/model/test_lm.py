import pytest
import torch

import tokenshuffle as ts
from tests.model.reference_llama import reference_logits
from tokenshuffle.model import layers
from tokenshuffle.model.shuffle import codes_to_windows
from tokenshuffle.sampling import cfg_combine, decode_step, prefill
from tokenshuffle.sequence import build_prefix


def _randomise_window_head(lm):
    """Give WindowAR non-zero output layers (it starts as the identity) so tests can see it act."""
    torch.manual_seed(1)
    for p in lm.window_ar.parameters():
        torch.nn.init.normal_(p, std=0.3)


def tiny(s=1, **kw):
    torch.manual_seed(0)
    return ts.TokenShuffleLM(ts.LMConfig.preset("tiny", shuffle_window=s, **kw)).eval()


def full_image_logits(lm, prefix, valid, windows):
    B, P = prefix.shape
    N = windows.shape[1]
    valid = torch.cat([valid, valid.new_ones(B, N)], 1)
    hidden = lm(prefix, windows, input_pos=torch.arange(P + N), valid=valid)
    return lm.image_logits(hidden[:, P - 1 : P - 1 + N], codes=windows)  # (B, N, s², V)


@pytest.mark.parametrize("qk_norm", [False, True])
def test_s1_is_a_plain_llama_lm(qk_norm):
    lm = tiny(1, qk_norm=qk_norm)
    cfg = lm.config
    codes = torch.randint(0, cfg.image_vocab_size, (1, 4, 6))
    prefix, valid = build_prefix([[72, 105, 33]], grid=(4, 6), config=cfg)
    windows = codes_to_windows(codes, s=1)
    with torch.no_grad():
        ours = full_image_logits(lm, prefix, valid, windows)[0, :, 0]  # (N, V)
        ids = torch.cat([prefix[0], windows[0, :, 0] + cfg.image_offset])
        ref = reference_logits(lm, ids)
    P = prefix.shape[1]
    assert lm.shuffle is None and lm.unshuffle is None
    assert torch.allclose(ours, ref[P - 1 : -1, cfg.image_offset :], atol=1e-5)


@pytest.mark.parametrize("s", [1, 2, 4])
@pytest.mark.parametrize("guidance", [False, True])
@pytest.mark.parametrize("window_ar", [False, True])
def test_cached_decode_equals_full_forward(s, guidance, window_ar):
    if window_ar and s == 1:
        pytest.skip("window_ar needs s >= 2")
    lm = tiny(s, window_ar=window_ar)
    if window_ar:
        _randomise_window_head(lm)
    cfg = lm.config
    grid = (8, 4)
    texts = [[1, 2, 3, 4, 5], [9]]  # different lengths: the second row is left-padded
    codes = torch.randint(0, cfg.image_vocab_size, (2, *grid))
    prefix, valid = build_prefix(texts, grid=grid, config=cfg, guidance=guidance)
    rows, P = prefix.shape
    windows = codes_to_windows(codes, s=s).repeat(rows // 2, 1, 1)  # (rows, N, s²)
    N = windows.shape[1]
    with torch.no_grad():
        full = full_image_logits(lm, prefix, valid, windows)  # (rows, N, s², V)
        lm.setup_cache(batch=rows, max_len=P + N)
        steps = [prefill(lm, prefix, valid=valid)]  # (rows, 1, D) each
        for t in range(1, N):
            steps.append(decode_step(lm, windows[:, t - 1 : t], input_pos=torch.tensor([P + t - 1]),
                                     valid=torch.ones(rows, 1, dtype=torch.bool)))
        lm.clear_cache()
        cached = lm.image_logits(torch.cat(steps, 1), codes=windows)  # (rows, N, s², V)
    assert torch.allclose(cached, full, atol=1e-5), (cached - full).abs().max()
    if guidance:
        assert torch.allclose(cfg_combine(cached, 3.0), cfg_combine(full, 3.0), atol=1e-4)


@pytest.mark.parametrize("cpu_kernels", [False, None])  # None: tokenshuffle's kernels where they are built
def test_a_bf16_model_on_cpu_decodes_like_its_full_forward(cpu_kernels, monkeypatch):
    monkeypatch.setattr(layers, "_KERNELS", cpu_kernels)
    lm = tiny(2).to(torch.bfloat16)
    cfg = lm.config
    # A bf16 cache where the decode attention kernel reads it, float32 where torch's attention would.
    cache_dtype = torch.bfloat16 if layers.kernels_ready() else torch.float32
    assert lm.cache_dtype() == cache_dtype
    prefix, valid = build_prefix([[1, 2, 3]], grid=(4, 4), config=cfg, guidance=True)
    rows, P = prefix.shape
    windows = codes_to_windows(torch.randint(0, cfg.image_vocab_size, (1, 4, 4)), s=2).repeat(rows, 1, 1)
    N = windows.shape[1]
    with torch.no_grad():
        full = full_image_logits(lm, prefix, valid, windows).float()  # (rows, N, s², V)
        lm.setup_cache(batch=rows, max_len=P + N)
        assert lm.decoder.layers[0].attention.cache.k.dtype == cache_dtype
        steps = [prefill(lm, prefix, valid=valid)]
        for t in range(1, N):
            steps.append(decode_step(lm, windows[:, t - 1 : t], input_pos=torch.tensor([P + t - 1]),
                                     valid=torch.ones(rows, 1, dtype=torch.bool)))
        lm.clear_cache()
        assert steps[-1].dtype == torch.bfloat16
        cached = lm.image_logits(torch.cat(steps, 1), codes=windows).float()
    assert (cached - full).abs().max() < 0.03 * full.abs().max()  # bf16 rounding only (~1 %)


@pytest.mark.parametrize("s", [1, 2])
def test_left_padding_changes_nothing(s):
    lm = tiny(s)
    cfg = lm.config
    windows = codes_to_windows(torch.randint(0, cfg.image_vocab_size, (1, 4, 4)), s=s)
    alone, v1 = build_prefix([[7, 8]], grid=(4, 4), config=cfg)
    padded, v2 = build_prefix([[7, 8]], grid=(4, 4), config=cfg, pad_to=alone.shape[1] + 5)
    with torch.no_grad():
        a = full_image_logits(lm, alone, v1, windows)
        b = full_image_logits(lm, padded, v2, windows)
    assert torch.allclose(a, b, atol=1e-5)


def test_grid_tokens_condition_the_model():
    lm = tiny(2)
    cfg = lm.config
    a, va = build_prefix([[5]], grid=(4, 8), config=cfg)
    b, vb = build_prefix([[5]], grid=(8, 4), config=cfg)
    assert not torch.equal(a, b)
    with torch.no_grad():
        la = prefill(lm, a, valid=va)
        lm.clear_cache()
        lb = prefill(lm, b, valid=vb)
    assert not torch.allclose(la, lb)


def test_bad_config_names_the_field():
    with pytest.raises(ValueError, match="shuffle_window=3"):
        ts.LMConfig.preset("tiny", shuffle_window=3)
    with pytest.raises(ValueError, match="num_kv_heads"):
        ts.LMConfig.preset("tiny", num_kv_heads=3)
    with pytest.raises(ValueError, match="unknown LM preset"):
        ts.LMConfig.preset("gpt-zz")


DEEP_HEAD = {"window_ar_layers": 3, "window_ar_mix": True}


@pytest.mark.parametrize("head", [{}, DEEP_HEAD])
def test_window_ar_code_j_reads_only_the_earlier_codes_of_its_window(head):
    lm = tiny(2, window_ar=True, **head)
    _randomise_window_head(lm)
    cfg = lm.config
    prefix, valid = build_prefix([[4, 5]], grid=(4, 4), config=cfg)
    windows = codes_to_windows(torch.randint(0, cfg.image_vocab_size, (1, 4, 4)), s=2)  # (1, 4, 4)
    with torch.no_grad():
        base = full_image_logits(lm, prefix, valid, windows)  # (1, N, 4, V)
        hidden = lm(prefix, windows, input_pos=torch.arange(prefix.shape[1] + 4),
                    valid=torch.cat([valid, valid.new_ones(1, 4)], 1))[:, prefix.shape[1] - 1 : -1]
        for j in range(4):
            changed = windows.clone()
            changed[:, :, j] = (changed[:, :, j] + 1) % cfg.image_vocab_size  # code j of every window
            other = lm.image_logits(hidden, codes=changed)  # the same decoder states, other window codes
            assert torch.allclose(other[:, :, : j + 1], base[:, :, : j + 1], atol=1e-6)  # codes 0..j unmoved
            if j < 3:
                assert not torch.allclose(other[:, :, j + 1 :], base[:, :, j + 1 :], atol=1e-4)


def test_window_ar_starts_as_the_plain_model():
    plain, ar = tiny(2), tiny(2, window_ar=True)
    missing = ar.load_state_dict(plain.state_dict(), strict=False).missing_keys
    assert missing and all(k.startswith("window_ar.") for k in missing)
    cfg = plain.config
    prefix, valid = build_prefix([[4, 5]], grid=(4, 4), config=cfg)
    windows = codes_to_windows(torch.randint(0, cfg.image_vocab_size, (1, 4, 4)), s=2)
    with torch.no_grad():
        assert torch.allclose(full_image_logits(ar, prefix, valid, windows),
                              full_image_logits(plain, prefix, valid, windows), atol=1e-6)
    with pytest.raises(ValueError, match="window_ar needs shuffle_window >= 2"):
        ts.LMConfig.preset("tiny", window_ar=True)


def test_a_deeper_mixed_window_head_starts_as_the_head_it_grows_from():
    """Blocks added to a trained window head (``window_ar_layers``, ``window_ar_mix``) start as the
    identity: the grown model draws what its parent drew until they train."""
    parent, child = tiny(2, window_ar=True), tiny(2, window_ar=True, **DEEP_HEAD)
    _randomise_window_head(parent)
    missing = child.load_state_dict(parent.state_dict(), strict=False).missing_keys
    assert missing and all(k.startswith(("window_ar.layers.", "window_ar.mix.")) for k in missing)
    cfg = parent.config
    prefix, valid = build_prefix([[4, 5]], grid=(4, 4), config=cfg)
    windows = codes_to_windows(torch.randint(0, cfg.image_vocab_size, (1, 4, 4)), s=2)
    with torch.no_grad():
        before = full_image_logits(parent, prefix, valid, windows)
        assert torch.allclose(full_image_logits(child, prefix, valid, windows), before, atol=1e-6)
        _randomise_window_head(child)  # trained, the new blocks act
        assert not torch.allclose(full_image_logits(child, prefix, valid, windows), before, atol=1e-3)


@pytest.mark.parametrize("kw,match", [({"window_ar_layers": 0}, "window_ar_layers must be >= 1"),
                                      ({"window_ar_mix": True}, "need window_ar=True"),
                                      ({"window_ar_layers": 2}, "need window_ar=True")])
def test_bad_window_head_shapes_name_the_field(kw, match):
    with pytest.raises(ValueError, match=match):
        ts.LMConfig.preset("tiny", shuffle_window=2, **kw)


@pytest.mark.parametrize("head", [{}, DEEP_HEAD])
@pytest.mark.parametrize("s", [2, 4])
def test_window_ar_step_with_its_cache_equals_the_full_window_head(head, s):
    """Decoding steps through a window place by place, keys and values cached: each place's feature is
    the one the head computes over the whole window (teacher forcing)."""
    lm = tiny(s, window_ar=True, **head)
    _randomise_window_head(lm)
    torch.manual_seed(3)
    u = torch.randn(5, 2, s * s, lm.config.dim)  # (rows, n, s², D)
    codes = torch.randint(0, lm.config.image_vocab_size, (5, 2, s * s))
    with torch.no_grad():
        full = lm.window_ar(lm.window_ar.mix_features(u), codes)  # (rows, n, s², D)
        for w in range(2):
            cache = lm.window_ar.new_cache(rows=5, places=s * s)
            prev = torch.full((5,), lm.window_ar.start)
            for j in range(s * s):
                got = lm.window_ar.step(lm.window_ar.mix_features(u)[:, w, j], prev, j=j, cache=cache)
                assert torch.allclose(got, full[:, w, j], atol=1e-5), (w, j)
                prev = codes[:, w, j]
