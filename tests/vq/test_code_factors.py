import pytest
import torch

from tokenshuffle.vq.code_factors import palette_factors

PALETTE = {"red": (215, 35, 35), "blue": (40, 90, 220)}


class PatchVQ(torch.nn.Module):
    """A stand-in tokenizer with downsample 4: code = 3 * colour (0 none, 1 red, 2 blue) + filled quarter rows."""

    downsample, codebook_size = 4, 12

    def __init__(self):
        super().__init__()
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def encode(self, images):  # (B, 3, H, W) in [-1, 1] -> (B, H/4, W/4)
        px = ((images + 1) * 127.5).round()
        B, _, H, W = px.shape
        patches = px.unflatten(2, (H // 4, 4)).unflatten(4, (W // 4, 4)).permute(0, 2, 4, 1, 3, 5)  # (B,h,w,3,4,4)
        fg = (patches - 128).abs().amax(3) > 24  # (B, h, w, 4, 4)
        red = (patches[:, :, :, 0] > 200).any(-1).any(-1) & fg.any(-1).any(-1)
        colour = torch.where(fg.any(-1).any(-1), torch.where(red, 1, 2), 0)
        rows = fg.any(-1).sum(-1).clamp(max=2)  # 0, 1 or 2+ filled pixel rows
        return 3 * colour + rows


def _images():
    img = torch.full((2, 3, 8, 8), 128, dtype=torch.uint8)
    img[0, :, 0:1, 0:4] = torch.tensor([215, 35, 35])[:, None, None]  # one red row in patch (0, 0)
    img[0, :, 4:8, 4:8] = torch.tensor([40, 90, 220])[:, None, None]  # a full blue patch at (1, 1)
    img[1, :, 4:8, 0:4] = torch.tensor([40, 90, 220])[:, None, None]  # and another at (1, 0)
    return [img[:1], img[1:]]


def test_each_code_gets_its_patches_colour_and_mean_mask():
    table, counts = palette_factors(PatchVQ(), _images(), palette=PALETTE, pool=2)  # (12, 3 + 4), (12,)
    assert table.shape == (12, 7) and counts[[0, 4, 8]].tolist() == [5, 1, 2] and counts.sum() == 8
    assert torch.equal(table[0], torch.tensor([0, 0, 1, 0, 0, 0, 0.0]))  # background: no colour, empty mask
    assert torch.equal(table[4], torch.tensor([1, 0, 0, 0.5, 0.5, 0, 0]))  # red, top row of 2x2 blocks half full
    assert torch.equal(table[8], torch.tensor([0, 1, 0, 1, 1, 1, 1.0]))  # blue, full (two patches averaged)
    unused = [c for c in range(12) if c not in (0, 4, 8)]
    assert not table[unused].any()


def test_bad_pool_and_empty_palette_are_refused():
    with pytest.raises(ValueError, match="pool=3 must divide the tokenizer's downsample factor 4"):
        palette_factors(PatchVQ(), _images(), palette=PALETTE, pool=3)
    with pytest.raises(ValueError, match="palette: need at least one colour"):
        palette_factors(PatchVQ(), _images(), palette={})
