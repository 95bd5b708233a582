import pytest
import torch

import tokenshuffle as ts
from tokenshuffle.model.shuffle import codes_to_windows, windows_to_codes


@pytest.mark.parametrize("grid,s", [((4, 4), 1), ((4, 4), 2), ((8, 4), 2), ((8, 8), 4), ((6, 12), 3), ((16, 8), 8)])
def test_unshuffle_inverts_shuffle(grid, s):
    h, w = grid
    x = torch.randn(3, h * w, 5, generator=torch.Generator().manual_seed(h * w + s))
    y = ts.shuffle_tokens(x, grid=grid, s=s)
    assert y.shape == (3, (h // s) * (w // s), s * s * 5)
    assert torch.equal(ts.unshuffle_tokens(y, grid=grid, s=s), x)


def test_shuffle_groups_each_window_in_raster_order():
    h, w, s = 4, 6, 2
    idx = torch.arange(h * w).view(1, h * w, 1)  # token value = its raster index
    y = ts.shuffle_tokens(idx, grid=(h, w), s=s)[0]  # (N, s²)
    # window (0, 1) holds grid cells (0,2), (0,3), (1,2), (1,3)
    assert y[1].tolist() == [2, 3, 8, 9]
    # windows are raster-ordered over the (h/s, w/s) window grid
    assert y[3].tolist() == [12, 13, 18, 19]


def test_codes_windows_round_trip():
    codes = torch.randint(0, 100, (2, 8, 12))
    win = codes_to_windows(codes, s=4)
    assert win.shape == (2, 6, 16)
    assert torch.equal(windows_to_codes(win, grid=(8, 12), s=4), codes)


@pytest.mark.parametrize("grid,s", [((5, 4), 2), ((4, 6), 4), ((4, 4), 0)])
def test_bad_window_names_h_w_s(grid, s):
    x = torch.zeros(1, grid[0] * grid[1], 2)
    with pytest.raises(ValueError, match=r"s=") as err:
        ts.shuffle_tokens(x, grid=grid, s=s)
    if s > 0:
        assert f"h={grid[0]}" in str(err.value) and f"w={grid[1]}" in str(err.value)


def test_shuffle_compresses_before_concatenating():
    torch.manual_seed(0)
    mod = ts.TokenShuffle(16, s=2, num_mlp_blocks=0)
    x = torch.randn(2, 3, 4, 16)  # (B, n, s², D)
    y = mod(x)
    assert y.shape == (2, 3, 16)
    # with no residual blocks, the output is exactly the per-token compression, concatenated
    per_token = mod.compress(x)  # (B, n, 4, 4)
    assert torch.allclose(y, per_token.reshape(2, 3, 16))


def test_windows_do_not_mix_and_blocks_are_residual():
    torch.manual_seed(0)
    mod = ts.TokenShuffle(16, s=2, num_mlp_blocks=2)
    assert len(mod.blocks) == 2
    x = torch.randn(1, 2, 4, 16)
    y = mod(x)
    x2 = x.clone()
    x2[:, 1] += 1.0  # changing window 1 must leave window 0 untouched
    y2 = mod(x2)
    assert torch.allclose(y[:, 0], y2[:, 0]) and not torch.allclose(y[:, 1], y2[:, 1])
    # zeroing the blocks' output layers leaves only the identity path of each residual block
    for block in mod.blocks:
        torch.nn.init.zeros_(block.mlp.fc2.weight)
        torch.nn.init.zeros_(block.mlp.fc2.bias)
    assert torch.allclose(mod(x), mod.compress(x).reshape(1, 2, 16))


def test_unshuffle_shapes_and_shared_expansion():
    torch.manual_seed(0)
    mod = ts.TokenUnshuffle(32, s=4, num_mlp_blocks=2)
    h = torch.randn(2, 5, 32)
    out = mod(h)
    assert out.shape == (2, 5, 16, 32)
    split = mod.blocks(h).reshape(2, 5, 16, 2)
    assert torch.allclose(out, mod.expand(split))


@pytest.mark.parametrize("dim,s", [(10, 2), (16, 1)])
def test_bad_module_args(dim, s):
    with pytest.raises(ValueError, match="s"):
        ts.TokenShuffle(dim, s=s)


@pytest.mark.parametrize("x, grid, needle", [
    (torch.zeros(16, 8), (4, 4), "x must be a 3-D tensor"),
    (torch.zeros(1, 1, 16, 8), (4, 4), "x must be a 3-D tensor"),
    ([[0.0]], (4, 4), "x must be a 3-D tensor"),
    (torch.zeros(1, 16, 8), (4, 4, 1), "grid must be a pair of ints"),
    (torch.zeros(1, 16, 8), (4.0, 4), "grid must be a pair of ints"),
    (torch.zeros(1, 16, 8), "44", "grid must be a pair of ints"),
])
def test_bad_tensors_and_grids_are_named(x, grid, needle):
    with pytest.raises(ValueError, match=needle):
        ts.shuffle_tokens(x, grid=grid, s=2)
    with pytest.raises(ValueError, match=needle.replace("x must", "y must")):
        ts.unshuffle_tokens(x, grid=grid, s=2)
