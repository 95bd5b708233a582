import pytest
import torch

import tokenshuffle as ts
from tokenshuffle.model import attention
from tokenshuffle.model.decoder import Decoder
from tokenshuffle.model.shuffle import codes_to_windows
from tokenshuffle.sampling import decode_step, prefill
from tokenshuffle.sequence import build_prefix


def tiny(s=1):
    torch.manual_seed(0)
    return ts.TokenShuffleLM(ts.LMConfig.preset("tiny", shuffle_window=s)).eval()


def _padded_batch(lm, grid=(8, 8)):
    cfg = lm.config
    prefix, valid = build_prefix([[1, 2, 3, 4, 5, 6], [9]], grid=grid, config=cfg, guidance=True)
    windows = codes_to_windows(torch.randint(0, cfg.image_vocab_size, (2, *grid)), s=lm.s).repeat(2, 1, 1)
    return prefix, valid, windows


def test_blocked_attention_equals_one_block(monkeypatch):
    lm = tiny()
    prefix, valid, windows = _padded_batch(lm)
    rows, P = prefix.shape
    N = windows.shape[1]
    args = dict(input_pos=torch.arange(P + N), valid=torch.cat([valid, valid.new_ones(rows, N)], 1))
    with torch.no_grad():
        whole = lm(prefix, windows, **args)
        monkeypatch.setattr(attention, "QUERY_BLOCK", 7)  # 77 positions in 11 blocks, keys cut per block
        blocked = lm(prefix, windows, **args)
    assert torch.allclose(blocked, whole, atol=1e-5)


def test_no_mask_bigger_than_a_block_of_queries(monkeypatch):
    lm = tiny()
    prefix, valid, windows = _padded_batch(lm)
    rows, P = prefix.shape
    N = windows.shape[1]
    seen = []
    real = attention.Attention._sdpa

    def spy(self, q, k, v, mask):
        seen.append(mask.shape)
        return real(self, q, k, v, mask)

    monkeypatch.setattr(attention, "QUERY_BLOCK", 16)
    monkeypatch.setattr(attention.Attention, "_sdpa", spy)
    with torch.no_grad():
        lm(prefix, windows, input_pos=torch.arange(P + N), valid=torch.cat([valid, valid.new_ones(rows, N)], 1))
    assert max(m[2] for m in seen) == 16 and all(m[2] * m[3] <= 16 * (P + N) for m in seen)


@pytest.mark.parametrize("s", [1, 2])
def test_decode_over_the_whole_static_cache_equals_the_filled_prefix(monkeypatch, s):
    """The compiled / GPU path reads every cache position, the unwritten ones masked by their bias."""
    lm = tiny(s)
    prefix, valid, windows = _padded_batch(lm)
    rows, P = prefix.shape
    N = windows.shape[1]

    def run():
        lm.setup_cache(batch=rows, max_len=P + N + 9)
        out = [prefill(lm, prefix, valid=valid)]
        ones = torch.ones(rows, 1, dtype=torch.bool)
        for t in range(1, N):
            out.append(decode_step(lm, windows[:, t - 1 : t], input_pos=torch.tensor([P + t - 1]), valid=ones))
        lm.clear_cache()
        return torch.cat(out, 1)

    with torch.no_grad():
        prefix_only = run()
        monkeypatch.setattr(Decoder, "_cached_len", lambda self, x, input_pos: self.key_bias.shape[-1])
        whole = run()
    assert torch.allclose(whole, prefix_only, atol=1e-5)
