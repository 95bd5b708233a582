import pytest
import torch

import tokenshuffle as ts


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
