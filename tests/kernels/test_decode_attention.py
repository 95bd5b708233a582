import pytest
import torch
from torch.nn import functional as F

from tokenshuffle import kernels

pytestmark = pytest.mark.skipif(not kernels.load(), reason="tokenshuffle's CPU kernels cannot be built here")
NEG = float("-inf")


def _case(*, B, H, Hkv, T, hd, seed=0):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, H, hd, generator=g)
    k, v = torch.randn(B, Hkv, T, hd, generator=g), torch.randn(B, Hkv, T, hd, generator=g)
    return q, k, v


def _sdpa(q, k, v, bias, n):
    """torch's attention of the one query over keys 0..n-1 of a float32 cache."""
    return F.scaled_dot_product_attention(q[:, :, None], k[:, :, :n].float(), v[:, :, :n].float(),
                                          attn_mask=bias[:, None, None, :n], enable_gqa=True)[:, :, 0]


# head_dim a multiple of 16 up to 128 takes the register path, others the general one; Hkv < H is
# grouped-query attention.
@pytest.mark.parametrize("B, H, Hkv, hd", [(2, 12, 12, 64), (2, 12, 4, 64), (1, 8, 8, 128), (2, 8, 8, 32),
                                           (2, 4, 2, 48), (1, 2, 1, 40), (1, 2, 2, 160)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_decode_attention_equals_sdpa_over_the_written_positions(B, H, Hkv, hd, dtype):
    T, pos = 70, 40  # a static cache of 70 positions, the query at 40: keys 41.. are never read
    q, k, v = _case(B=B, H=H, Hkv=Hkv, T=T, hd=hd)
    k, v = k.to(dtype), v.to(dtype)
    bias = torch.zeros(B, T)
    bias[0, :3] = NEG  # left padding of row 0
    k[:, :, pos + 1 :] = float("nan")  # unwritten: reading them would poison the result
    got = torch.ops.tokenshuffle.decode_attention(q, k, v, bias, torch.tensor([pos]), hd**-0.5)
    assert got.shape == (B, H, hd) and got.dtype == torch.float32
    torch.testing.assert_close(got, _sdpa(q, k, v, bias, pos + 1), rtol=1e-5, atol=1e-5)


def test_decode_attention_reads_no_further_than_the_slice_it_is_given():
    q, k, v = _case(B=1, H=2, Hkv=2, T=30, hd=64)
    bias = torch.zeros(1, 30)
    got = torch.ops.tokenshuffle.decode_attention(q, k[:, :, :10], v[:, :, :10], bias, torch.tensor([25]), 0.125)
    torch.testing.assert_close(got, _sdpa(q, k, v, bias, 10), rtol=1e-5, atol=1e-5)


def test_decode_attention_of_a_long_cache_softmaxes_without_overflow():
    q, k, v = _case(B=1, H=1, Hkv=1, T=3000, hd=64)
    q = q * 30  # logits in the hundreds
    bias = torch.zeros(1, 3000)
    got = torch.ops.tokenshuffle.decode_attention(q, k, v, bias, torch.tensor([2999]), 0.125)
    assert torch.isfinite(got).all()
    torch.testing.assert_close(got, _sdpa(q, k, v, bias, 3000), rtol=1e-4, atol=1e-4)


def test_decode_attention_refuses_what_it_cannot_do():
    q, k, v = _case(B=1, H=3, Hkv=2, T=8, hd=16)
    with pytest.raises(RuntimeError, match="multiple of Hkv"):
        torch.ops.tokenshuffle.decode_attention(q, k, v, torch.zeros(1, 8), torch.tensor([3]), 0.25)
    q, k, v = _case(B=1, H=2, Hkv=2, T=8, hd=16)
    with pytest.raises(RuntimeError, match="key_bias"):
        torch.ops.tokenshuffle.decode_attention(q, k, v, torch.zeros(1, 4), torch.tensor([3]), 0.25)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_decode_attention_never_reads_keys_it_may_not_see_and_gives_zeros_where_it_sees_none(dtype):
    T, pos = 50, 45  # blocks of 16 keys: a full one, a partly masked one, the tail
    q, k, v = _case(B=3, H=4, Hkv=4, T=T, hd=64, seed=3)
    k, v = k.to(dtype), v.to(dtype)
    bias = torch.zeros(3, T)
    bias[0, 10:20] = NEG  # a masked run across a block edge
    bias[1] = NEG  # nothing to see
    k[0, :, 10:20] = float("nan")
    v[0, :, 10:20] = float("nan")
    got = torch.ops.tokenshuffle.decode_attention(q, k, v, bias, torch.tensor([pos]), 0.125)
    want = _sdpa(q[[0, 2]], k[[0, 2]].nan_to_num(), v[[0, 2]].nan_to_num(), bias[[0, 2]], pos + 1)
    torch.testing.assert_close(got[[0, 2]], want, rtol=1e-5, atol=1e-5)
    assert torch.equal(got[1], torch.zeros(4, 64))
