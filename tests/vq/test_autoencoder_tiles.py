import torch

from tokenshuffle.vq import VQConfig, VQTokenizer
from tokenshuffle.vq.autoencoder import DECODE_TILE


def _tiny():
    torch.manual_seed(0)
    return VQTokenizer(VQConfig.preset("vq-16-tiny")).eval()


def test_grids_up_to_the_tile_decode_in_one_piece():
    vq = _tiny()
    codes = torch.randint(0, vq.codebook_size, (1, DECODE_TILE // 8, DECODE_TILE // 8))
    assert torch.equal(vq.decode(codes), vq.decode(codes, tile=None))


def test_tiles_with_a_margin_as_wide_as_the_grid_equal_the_whole_decode():
    vq = _tiny()
    codes = torch.randint(0, vq.codebook_size, (2, 6, 10))
    whole = vq.decode(codes, tile=None)
    tiled = vq.decode_tiled(codes, tile=4, margin=10)  # every tile sees the whole grid, keeps its block
    assert tiled.shape == whole.shape == (2, 3, 96, 160)
    assert torch.allclose(tiled, whole, atol=1e-5)


def test_tiles_cover_every_pixel_of_an_odd_grid():
    vq = _tiny()
    codes = torch.randint(0, vq.codebook_size, (1, 5, 7))
    tiled = vq.decode_tiled(codes, tile=3, margin=1)
    assert tiled.shape == (1, 3, 80, 112) and tiled.abs().max() <= 1
    # the top-left block is the top-left of its own 4x4 context decoded alone
    alone = vq.decode(codes[:, :4, :4], tile=None)
    assert torch.allclose(tiled[:, :, :48, :48], alone[:, :, :48, :48], atol=1e-6)
