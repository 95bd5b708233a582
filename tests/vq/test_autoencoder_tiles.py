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
    # the top-left block, short of the band it shares with its neighbours (one margin, 16 px, either side
    # of its edge at 48 px), is the top-left of its own 4x4 context decoded alone
    alone = vq.decode(codes[:, :4, :4], tile=None)
    assert torch.allclose(tiled[:, :, :32, :32], alone[:, :, :32, :32], atol=1e-6)


def test_neighbouring_tiles_blend_with_weights_that_sum_to_one(monkeypatch):
    vq = _tiny()
    codes = torch.randint(0, vq.codebook_size, (1, 7, 11))
    seen = []

    def constant_tile(tile_codes, *, tile=None):  # each tile renders one grey of its own
        seen.append(tile_codes.shape)
        return torch.full((1, 3, tile_codes.shape[1] * 16, tile_codes.shape[2] * 16), float(len(seen)))

    monkeypatch.setattr(vq, "decode", constant_tile)
    out = vq.decode_tiled(codes, tile=4, margin=1)  # 2 x 3 tiles
    assert len(seen) == 6 and out.shape == (1, 3, 112, 176)
    # far from every block edge each tile keeps its own value; across an edge the value moves linearly
    # from one tile's to the next over the 32 px band both decode, and never leaves their range
    assert out[0, 0, 10, 10] == 1 and out[0, 0, 10, 100] == 2 and out[0, 0, 100, 170] == 6
    row = out[0, 0, 10, 40:96]  # the band around the edge at 64 px between tiles 1 and 2
    steps = row[1:] - row[:-1]
    assert torch.all(steps >= -1e-6) and row[0] == 1 and row[-1] == 2
    assert torch.allclose(steps[8:39], torch.full((31,), 1 / 32), atol=1e-6)  # pixels 48..79: the band
    monkeypatch.setattr(vq, "decode", lambda c, *, tile=None: torch.ones(1, 3, c.shape[1] * 16, c.shape[2] * 16))
    assert torch.allclose(vq.decode_tiled(codes, tile=3, margin=2), torch.ones(1, 3, 112, 176), atol=1e-6)
