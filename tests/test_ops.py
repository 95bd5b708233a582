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
