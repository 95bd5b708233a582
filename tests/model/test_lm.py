import pytest
import torch
from reference_llama import reference_logits

import tokenshuffle as ts
from tokenshuffle.ops import codes_to_windows
from tokenshuffle.sampling import cfg_combine, decode_step, prefill
from tokenshuffle.sequence import build_prefix


def tiny(s=1, **kw):
    torch.manual_seed(0)
    return ts.TokenShuffleLM(ts.LMConfig.preset("tiny", shuffle_window=s, **kw)).eval()


def full_image_logits(lm, prefix, valid, windows):
    B, P = prefix.shape
    N = windows.shape[1]
    valid = torch.cat([valid, valid.new_ones(B, N)], 1)
    hidden = lm(prefix, windows, input_pos=torch.arange(P + N), valid=valid)
    return lm.image_logits(hidden[:, P - 1 : P - 1 + N])  # (B, N, s², V)


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
def test_cached_decode_equals_full_forward(s, guidance):
    lm = tiny(s)
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
        steps = [prefill(lm, prefix, valid=valid)]
        for t in range(1, N):
            steps.append(decode_step(lm, windows[:, t - 1 : t], input_pos=torch.tensor([P + t - 1]),
                                     valid=torch.ones(rows, 1, dtype=torch.bool)))
        lm.clear_cache()
    cached = torch.stack(steps, 1)
    assert torch.allclose(cached, full, atol=1e-5), (cached - full).abs().max()
    if guidance:
        assert torch.allclose(cfg_combine(cached, 3.0), cfg_combine(full, 3.0), atol=1e-4)


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
