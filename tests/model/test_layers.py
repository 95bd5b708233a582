import pytest
import torch
from torch.nn import functional as F

from tokenshuffle.model import layers
from tokenshuffle.model.layers import linear


@pytest.fixture
def torch_kernels(monkeypatch):
    """linear without tokenshuffle::gemv (tests/kernels covers it): torch's paths, as where it is not built."""
    monkeypatch.setattr(layers, "_KERNELS", False)


@pytest.mark.parametrize("rows", [1, 2, 8, layers.SKINNY_MAX_ROWS, layers.SKINNY_MAX_ROWS + 1, 64])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("gemv", [False, None])  # None: gemv where it is built
def test_linear_equals_f_linear_on_every_path(rows, dtype, gemv, monkeypatch):
    monkeypatch.setattr(layers, "_KERNELS", gemv)
    g = torch.Generator().manual_seed(rows)
    w = torch.randn(layers.SKINNY_MIN_WEIGHT // 256, 256, generator=g).to(dtype)  # big enough for the skinny path
    x = torch.randn(rows, 1, 256, generator=g).to(dtype)  # (rows, 1, in): leading dims are kept
    got, want = linear(x, w), F.linear(x, w)
    assert got.shape == want.shape == (rows, 1, w.shape[0]) and got.dtype == dtype
    tol = 1e-4 if dtype == torch.float32 else 5e-2
    assert torch.allclose(got.float(), want.float(), atol=tol, rtol=tol)


def test_the_skinny_path_is_taken_only_for_few_fp32_rows_and_a_large_weight(monkeypatch, torch_kernels):
    calls = []
    real_mm = torch.mm
    monkeypatch.setattr(layers.torch, "mm", lambda *a: calls.append(1) or real_mm(*a))
    big = torch.randn(layers.SKINNY_MIN_WEIGHT // 64, 64)
    linear(torch.randn(2, 64), big)
    assert len(calls) == 1
    linear(torch.randn(layers.SKINNY_MAX_ROWS + 1, 64), big)  # many rows: F.linear
    linear(torch.randn(2, 64), big[:8])  # a small weight: F.linear
    linear(torch.randn(2, 64).bfloat16(), big.bfloat16())  # bf16: F.linear
    assert len(calls) == 1


def test_the_skinny_path_hands_mkl_a_column_major_x_t_even_for_a_transposed_x(monkeypatch, torch_kernels):
    # The decode step's SwiGLU gives w2 a transposed product; its x.T must still be column-major (the
    # layout MKL reads the weight fastest with), and the result must not change.
    seen = []
    real_mm = torch.mm
    monkeypatch.setattr(layers.torch, "mm", lambda a, b: seen.append(b.stride()) or real_mm(a, b))
    w = torch.randn(layers.SKINNY_MIN_WEIGHT // 64, 64)
    x = torch.randn(64, 2).t()[:, None]  # (2, 1, 64), column-major like gate * up in a decode step
    assert torch.allclose(linear(x, w), F.linear(x, w), atol=1e-5)
    assert seen == [(1, 64)]


@pytest.mark.skipif(not torch.ops.mkldnn._is_mkldnn_bf16_supported(), reason="no oneDNN bf16 on this CPU")
def test_bf16_inference_reads_a_reordered_copy_that_follows_in_place_changes(torch_kernels):
    g = torch.Generator().manual_seed(0)
    w = torch.nn.Parameter(torch.randn(layers.SKINNY_MIN_WEIGHT // 64, 64, generator=g).bfloat16())
    x = torch.randn(2, 1, 64, generator=g).bfloat16()
    with torch.no_grad():
        assert torch.equal(linear(x, w), F.linear(x, w))
        first = getattr(w, layers._PACKED)[1]
        assert torch.equal(linear(x, w), F.linear(x, w)) and getattr(w, layers._PACKED)[1] is first  # reused
        w.mul_(-1)  # an in-place change (a checkpoint loaded into the model) is seen
        assert torch.equal(linear(x, w), F.linear(x, w))
    y = torch.randn(2, 64, generator=g).bfloat16()
    assert linear(y, w).requires_grad  # training: no reordered copy, the gradient reaches the weight


def test_bf16_weights_made_in_inference_mode_take_the_plain_product(torch_kernels):
    with torch.inference_mode():  # no version counter to watch: no reordered copy
        w = torch.nn.Parameter(torch.randn(layers.SKINNY_MIN_WEIGHT // 64, 64).bfloat16(), requires_grad=False)
        x = torch.randn(2, 64).bfloat16()
        assert torch.equal(linear(x, w), F.linear(x, w)) and not hasattr(w, layers._PACKED)
