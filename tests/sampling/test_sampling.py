import math

import pytest
import torch

import tokenshuffle as ts
from tokenshuffle.sampling import SCHEDULES, cfg_combine, filter_logits, sample_logits


def tiny(s=2, **kw):
    torch.manual_seed(0)
    return ts.TokenShuffleLM(ts.LMConfig.preset("tiny", shuffle_window=s, **kw)).eval()


@pytest.mark.parametrize("name", SCHEDULES)
def test_every_schedule_is_one_at_scale_one(name):
    assert ts.CFGSchedule(name).scales(37, target=1.0) == [1.0] * 37


def test_schedule_formulas():
    g, N = 7.0, 100
    half = ts.CFGSchedule("half-linear").scales(N, target=g)
    assert half[0] == 1.0 and half[25] == pytest.approx(4.0) and half[50:] == [g] * 50
    lin = ts.CFGSchedule("linear").scales(N, target=g)
    assert lin[0] == 1.0 and lin[50] == pytest.approx(4.0) and lin[-1] < g
    assert ts.CFGSchedule("constant").scales(N, target=g) == [g] * N
    drop = ts.CFGSchedule("drop-first").scales(N, target=g)
    assert drop[:12] == [1.0] * 12 and drop[13:] == [g] * 87
    sine = ts.CFGSchedule("sine").scales(N, target=g)
    assert sine[0] == 1.0 and sine[50] == pytest.approx(1 + 6 * math.sin(math.pi / 4))
    sig = ts.CFGSchedule("sigmoid").scales(N, target=g)
    assert sig[0] == pytest.approx(1.0) and sig[50] == pytest.approx(4.0)
    assert all(a <= b for a, b in zip(sig, sig[1:], strict=False))


def test_cfg_combine_layout_and_scale_one():
    cond, uncond = torch.randn(3, 4, 10), torch.randn(3, 4, 10)
    both = torch.cat([cond, uncond])  # [cond; uncond]
    assert torch.allclose(cfg_combine(both, 1.0), cond, atol=1e-6)
    assert torch.allclose(cfg_combine(both, 0.0), uncond)
    assert torch.allclose(cfg_combine(both, 3.0), uncond + 3 * (cond - uncond))


def test_scale_one_samples_the_conditional_distribution():
    """With the unconditional batch present but scale 1, the guided logits are the conditional ones."""
    lm = tiny(2)
    from tokenshuffle.sampling import prefill
    from tokenshuffle.sequence import build_prefix

    prefix, valid = build_prefix([[1, 2, 3]], grid=(4, 4), config=lm.config, guidance=True)
    cond_only, cvalid = build_prefix([[1, 2, 3]], grid=(4, 4), config=lm.config)
    with torch.no_grad():
        no_codes = torch.zeros(2, 1, 4, dtype=torch.long)
        guided = cfg_combine(lm.image_logits(prefill(lm, prefix, valid=valid), codes=no_codes), 1.0)
        lm.clear_cache()
        cond = lm.image_logits(prefill(lm, cond_only, valid=cvalid), codes=no_codes[:1])
    assert torch.allclose(guided.softmax(-1), cond.softmax(-1), atol=1e-6)


def test_top_k_and_top_p_filters():
    logits = torch.log(torch.tensor([[0.5, 0.25, 0.15, 0.1]]))
    assert torch.isinf(filter_logits(logits, top_k=2, top_p=None)[0, 2:]).all()
    kept = ~torch.isinf(filter_logits(logits, top_k=None, top_p=0.7))
    assert kept.tolist() == [[True, True, False, False]]
    assert (~torch.isinf(filter_logits(logits, top_k=None, top_p=1e-6))).sum() == 1
    g = torch.Generator().manual_seed(0)
    draws = sample_logits(logits.expand(2000, 4), top_k=None, top_p=0.7, generator=g)
    assert set(draws.tolist()) == {0, 1}
    assert abs((draws == 0).float().mean().item() - 2 / 3) < 0.05
    assert sample_logits(logits, temperature=0).item() == 0


@pytest.mark.parametrize("top_p", [None, 0.8])
def test_top_k_draws_follow_the_filtered_distribution(top_p):
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 50, generator=g) * 2  # (rows, V)
    want = filter_logits(logits / 0.7, top_k=8, top_p=top_p).softmax(-1)  # (rows, V), zero outside the set
    n = 20000
    draws = sample_logits(logits.repeat_interleave(n, 0).view(3, n, 50), temperature=0.7, top_k=8, top_p=top_p,
                          generator=g)  # (rows, n)
    assert draws.shape == (3, n)
    freq = torch.zeros(3, 50).scatter_add_(1, draws, torch.ones(3, n)) / n
    assert (freq[want == 0] == 0).all()  # nothing outside the top-k (and top-p) set
    assert (freq - want).abs().max() < 0.015  # ~3 standard errors at n = 20,000


@pytest.mark.parametrize("s", [1, 2, 4])
def test_same_seed_same_codes(s):
    lm = tiny(s)
    cfg = ts.SamplingConfig(guidance_scale=4.0, top_k=20, top_p=0.95)
    run = lambda seed: ts.generate(lm, [[5, 6], [7]], grid=(4, 8), sampling=cfg,  # noqa: E731
                                   generator=torch.Generator().manual_seed(seed))
    a, b, c = run(0), run(0), run(1)
    assert a.shape == (2, 4, 8) and a.max() < lm.config.image_vocab_size
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("window_ar,head", [(False, {}), (True, {}),
                                             (True, {"window_ar_layers": 2, "window_ar_mix": True})])
def test_greedy_generate_matches_argmax_of_full_forward(window_ar, head):
    """Greedy codes from the cached sampler are the argmax of a full forward pass over those codes
    (with the window head: drawn one after another, each code the argmax given the ones before it; a
    mixed head reads all of a window's features while its codes are drawn one by one)."""
    lm = tiny(2, window_ar=window_ar, **head)
    if window_ar:
        torch.manual_seed(1)
        for p in lm.window_ar.parameters():
            torch.nn.init.normal_(p, std=0.3)
    codes = ts.generate(lm, [[3, 4]], grid=(4, 4), sampling=ts.SamplingConfig(guidance_scale=1.0, temperature=0))
    from tokenshuffle.model.shuffle import codes_to_windows
    from tokenshuffle.sequence import build_prefix

    prefix, valid = build_prefix([[3, 4]], grid=(4, 4), config=lm.config)
    windows = codes_to_windows(codes, s=2)
    P, N = prefix.shape[1], windows.shape[1]
    with torch.no_grad():
        hidden = lm(prefix, windows, input_pos=torch.arange(P + N), valid=torch.cat([valid, valid.new_ones(1, N)], 1))
        logits = lm.image_logits(hidden[:, P - 1 : P - 1 + N], codes=windows)
    assert torch.equal(logits.argmax(-1), windows)


@pytest.mark.parametrize(
    "kwargs,name",
    [
        ({"guidance_scale": -1.0}, "guidance_scale"),
        ({"top_k": 0}, "top_k"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"temperature": -0.1}, "temperature"),
        ({"cfg_schedule": "cosine"}, "cfg_schedule"),
    ],
)
def test_bad_sampling_args_name_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        ts.SamplingConfig(**kwargs)


def test_bad_grid_names_h_w_s():
    lm = tiny(4)
    with pytest.raises(ValueError, match=r"s=4.*h=6, w=8"):
        ts.generate(lm, [[1]], grid=(6, 8))


def test_window_head_sampling_with_guidance_is_seeded_and_differs_from_the_parallel_draw():
    plain, ar = tiny(2), tiny(2, window_ar=True)
    torch.manual_seed(1)
    for p in ar.window_ar.parameters():
        torch.nn.init.normal_(p, std=0.3)
    cfg = ts.SamplingConfig(guidance_scale=3.0, top_k=20)
    run = lambda lm, seed: ts.generate(lm, [[5, 6], [7]], grid=(4, 8), sampling=cfg,  # noqa: E731
                                       generator=torch.Generator().manual_seed(seed))
    a, b = run(ar, 0), run(ar, 0)
    assert a.shape == (2, 4, 8) and torch.equal(a, b) and not torch.equal(a, run(ar, 1))
    assert not torch.equal(a, run(plain, 0))


def test_a_grid_past_max_seq_len_is_one_line_naming_the_largest_grid():
    lm = ts.TokenShuffleLM(ts.LMConfig.preset("tiny", shuffle_window=2, max_seq_len=64)).eval()
    with pytest.raises(ValueError, match=r"grid 32x32 at s=2 needs 5 prefix \+ 256 image positions, past the "
                                         r"model's max_seq_len=64 .* largest square grid it takes is 14x14 codes"):
        ts.generate(lm, [[1]], grid=(32, 32))
    ts.generate(lm, [[1]], grid=(14, 14))  # the largest it names fits


@pytest.mark.parametrize("window_ar", [False, True])
def test_guiding_the_head_input_equals_guiding_the_logits(window_ar):
    """sample_window guides the features before the (linear, bias-free) visual head; the greedy codes
    and the guided logits are those of guiding the logits of both rows."""
    from tokenshuffle.sampling.generate import sample_window

    lm = tiny(2, window_ar=window_ar)
    g = torch.Generator().manual_seed(3)
    hidden = torch.randn(6, 1, lm.config.dim, generator=g)  # [cond; uncond] of 3 prompts
    greedy = ts.SamplingConfig(guidance_scale=3.0, temperature=0.0)
    with torch.no_grad():
        codes = sample_window(lm, hidden, scale=3.0, sampling=greedy)  # (3, s²)
        both = lm.code_logits(lm.window_features(hidden), codes=codes.repeat(2, 1)[:, None])[:, 0]  # (6, s², V)
        guided = cfg_combine(both, 3.0)  # (3, s², V)
        via_features = lm.visual_head(cfg_combine(lm.code_features(lm.window_features(hidden),
                                                                     codes=codes.repeat(2, 1)[:, None])[:, 0], 3.0))
    assert torch.equal(codes, guided.argmax(-1))
    assert torch.allclose(via_features, guided, atol=1e-5)
