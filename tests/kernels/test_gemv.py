import pytest
import torch
from torch.nn import functional as F

from tokenshuffle import kernels
from tokenshuffle.model import layers

pytestmark = pytest.mark.skipif(not kernels.load(), reason="tokenshuffle::gemv cannot be built here")


def _reference(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return F.linear(x.double(), w.double())  # (M, N) exact enough to judge float32 sums


@pytest.mark.parametrize("rows", [1, 2, 3, 4, 5, 16])
@pytest.mark.parametrize("shape", [(37, 70), (64, 768), (200, 1000)])  # N, K: tails of every vector width
def test_gemv_equals_the_product_in_float32(rows, shape):
    g = torch.Generator().manual_seed(rows)
    w = torch.randn(*shape, generator=g)
    x = torch.randn(rows, shape[1], generator=g)
    got = torch.ops.tokenshuffle.gemv(x, w)
    assert got.shape == (rows, shape[0]) and got.dtype == torch.float32
    torch.testing.assert_close(got.double(), _reference(x, w), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("rows", [1, 2, 4, 7])
def test_gemv_in_bf16_sums_in_float32_and_rounds_once(rows):
    g = torch.Generator().manual_seed(rows)
    w = torch.randn(96, 1000, generator=g).bfloat16()
    x = torch.randn(rows, 1000, generator=g).bfloat16()
    got = torch.ops.tokenshuffle.gemv(x, w)
    assert got.dtype == torch.bfloat16
    want = _reference(x, w)  # the exact sum of the bf16 products
    # One rounding to bf16 (relative 2^-8) plus float32 sums of 1000 terms.
    torch.testing.assert_close(got.double(), want, rtol=2**-8, atol=1e-3)
    assert torch.equal(got, want.float().bfloat16()) or (got.double() - want).abs().max() < 0.05


def test_gemv_reads_a_strided_x_and_a_row_slice_of_a_weight():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(300, 256, generator=g)
    x = torch.randn(256, 2, generator=g).t()  # (2, 256) column-major
    torch.testing.assert_close(torch.ops.tokenshuffle.gemv(x, w[100:]).double(), _reference(x, w[100:]),
                               rtol=1e-5, atol=1e-5)


def test_gemv_refuses_what_it_cannot_do():
    w = torch.randn(8, 32)
    with pytest.raises(RuntimeError, match="1 to 16 rows"):
        torch.ops.tokenshuffle.gemv(torch.randn(17, 32), w)
    with pytest.raises(RuntimeError, match="one dtype"):
        torch.ops.tokenshuffle.gemv(torch.randn(2, 32).bfloat16(), w)
    with pytest.raises(RuntimeError, match=r"x \(M, K\) and weight \(N, K\)"):
        torch.ops.tokenshuffle.gemv(torch.randn(2, 31), w)


@pytest.mark.skipif(torch.ops.tokenshuffle.gemv_path() != "avx512", reason="linear uses gemv on AVX-512 only")
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_linear_sends_few_rows_of_inference_to_gemv_and_training_to_torch(dtype, monkeypatch):
    calls = []
    real = torch.ops.tokenshuffle.gemv
    monkeypatch.setattr(torch.ops.tokenshuffle, "gemv", lambda x, w: calls.append(x.shape[0]) or real(x, w))
    g = torch.Generator().manual_seed(0)
    w = torch.nn.Parameter(torch.randn(layers.SKINNY_MIN_WEIGHT // 128, 128, generator=g).to(dtype))
    x = torch.randn(2, 1, 128, generator=g).to(dtype)
    with torch.no_grad():
        assert torch.equal(layers.linear(x, w), real(x[:, 0], w)[:, None])  # (2, 1, out)
        layers.linear(torch.randn(layers.GEMV_MAX_ROWS + 1, 128).to(dtype), w)  # more rows: torch
        layers.linear(torch.randn(2, 64).to(dtype), w[:8, :64])  # a weight that stays in cache: torch
    assert calls == [2]
    y = layers.linear(x, w)  # grad enabled and w requires grad: torch's product, so the gradient flows
    y.sum().backward()
    assert calls == [2] and w.grad is not None and w.grad.shape == w.shape


def test_the_compiled_step_traces_gemv_with_its_fake_shapes():
    w = torch.randn(64, 48)
    fn = torch.compile(lambda x: torch.ops.tokenshuffle.gemv(x, w) * 2, backend="aot_eager", fullgraph=True)
    x = torch.randn(3, 48)
    torch.testing.assert_close(fn(x), 2 * torch.ops.tokenshuffle.gemv(x, w))


@pytest.mark.parametrize(("vendor", "prefetch"), [("GenuineIntel", True), ("AuthenticAMD", False), ("", False)])
def test_the_weight_prefetch_is_built_on_intel_only(monkeypatch, vendor, prefetch):
    monkeypatch.delenv(kernels.PREFETCH_ENV, raising=False)
    monkeypatch.setattr(kernels, "_vendor", lambda: vendor)
    flags = kernels.build_flags()
    assert "-march=native" in flags
    assert (f"-DTS_PREFETCH_BYTES={kernels.INTEL_PREFETCH_BYTES}" in flags) == prefetch


def test_the_prefetch_distance_can_be_set_and_a_bad_one_is_refused_by_name(monkeypatch):
    monkeypatch.setattr(kernels, "_vendor", lambda: "AuthenticAMD")
    monkeypatch.setenv(kernels.PREFETCH_ENV, "4096")
    assert "-DTS_PREFETCH_BYTES=4096" in kernels.build_flags()
    monkeypatch.setattr(kernels, "_vendor", lambda: "GenuineIntel")
    monkeypatch.setenv(kernels.PREFETCH_ENV, "0")
    assert not any(f.startswith("-DTS_PREFETCH_BYTES") for f in kernels.build_flags())
    for bad in ("100", "-64", "lots"):
        monkeypatch.setenv(kernels.PREFETCH_ENV, bad)
        with pytest.raises(ValueError, match="TOKENSHUFFLE_PREFETCH_BYTES.*multiple of 64"):
            kernels.prefetch_bytes()
