"""The GPU subset (``make gpu-check``): skipped where torch sees no CUDA device."""

import pytest
import torch

import tokenshuffle as ts
from tokenshuffle.model.shuffle import codes_to_windows
from tokenshuffle.sampling import decode_step, prefill
from tokenshuffle.sequence import build_prefix

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (make gpu-check)")


def tiny(s=2, **kw):
    torch.manual_seed(0)
    return ts.TokenShuffleLM(ts.LMConfig.preset("tiny", shuffle_window=s, **kw)).eval().cuda()


@pytest.mark.parametrize("s", [1, 2])
def test_cuda_cached_decode_over_the_whole_static_cache_equals_full_forward(s):
    lm = tiny(s)
    cfg = lm.config
    texts = [[1, 2, 3, 4, 5], [9]]
    prefix, valid = build_prefix(texts, grid=(8, 8), config=cfg, guidance=True)
    prefix, valid = prefix.cuda(), valid.cuda()
    windows = codes_to_windows(torch.randint(0, cfg.image_vocab_size, (2, 8, 8)), s=s).repeat(2, 1, 1).cuda()
    rows, P = prefix.shape
    N = windows.shape[1]
    with torch.no_grad():
        full_valid = torch.cat([valid, valid.new_ones(rows, N)], 1)
        full = lm(prefix, windows, input_pos=torch.arange(P + N, device="cuda"), valid=full_valid)[:, P - 1 : -1]
        lm.setup_cache(batch=rows, max_len=P + N + 7)  # longer than needed: unwritten keys must stay unseen
        steps = [prefill(lm, prefix, valid=valid)]
        ones = torch.ones(rows, 1, dtype=torch.bool, device="cuda")
        for t in range(1, N):
            pos = torch.tensor([P + t - 1], device="cuda")
            steps.append(decode_step(lm, windows[:, t - 1 : t], input_pos=pos, valid=ones))
        lm.clear_cache()
    assert torch.allclose(torch.cat(steps, 1), full, atol=1e-4)


def test_cuda_compiled_with_cuda_graphs_gives_the_eager_codes():
    lm = tiny(2)
    greedy = ts.SamplingConfig(temperature=0, guidance_scale=2.0)
    for text in ([1, 2], [3, 4, 5, 6, 7]):
        eager = ts.generate(lm, [text], grid=(8, 8), sampling=greedy)
        assert torch.equal(ts.generate(lm, [text], grid=(8, 8), sampling=greedy, compile=True), eager)


def test_cuda_bf16_sampling_is_seeded():
    lm = tiny(2).to(torch.bfloat16)
    sampling = ts.SamplingConfig(guidance_scale=3.0, top_k=16)
    a = ts.generate(lm, [[1, 2]], grid=(8, 8), sampling=sampling, generator=torch.Generator("cuda").manual_seed(0))
    b = ts.generate(lm, [[1, 2]], grid=(8, 8), sampling=sampling, generator=torch.Generator("cuda").manual_seed(0))
    assert a.device.type == "cuda" and torch.equal(a, b)


def test_default_dtype_on_cuda_is_bf16_where_supported():
    from tokenshuffle.devices import default_dtype, resolve_device

    device = resolve_device("cuda")
    assert default_dtype(device) == (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float32)
