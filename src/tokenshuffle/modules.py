"""TokenShuffle / TokenUnshuffle: the paper's learned merge and split around the transformer.

Ma et al. (2025), Sec. 3.2 and Fig. 4: on the way in, a shared per-token MLP compresses each image
token D -> D/s² *before* the s×s window is concatenated back to width D, followed by residual MLP
blocks (2 by default); on the way out, residual MLP blocks at width D, a split into s² parts of D/s²,
and a shared MLP D/s² -> D that restores each token's width for the visual head. No positional
embedding is added for the window: the raster order inside it is fixed by the concatenation.

Both modules work on window-grouped tensors (B, n, s², ·) so a training batch (all windows of a grid)
and a decode step (one window) take the same path; ``tokenshuffle.ops`` converts raster grids.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from tokenshuffle.model.layers import RMSNorm


class MLP(nn.Module):
    """Linear -> GELU -> Linear."""

    def __init__(self, dim_in: int, dim_out: int, *, hidden: int | None = None) -> None:
        super().__init__()
        hidden = hidden or dim_out
        self.fc1 = nn.Linear(dim_in, hidden)
        self.fc2 = nn.Linear(hidden, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(nn.functional.gelu(self.fc1(x)))


class ResidualMLP(nn.Module):
    """x + MLP(RMSNorm(x)) at constant width; pre-norm keeps the stack stable at init."""

    def __init__(self, dim: int, *, eps: float = 1e-5) -> None:
        super().__init__()
        self.norm = RMSNorm(dim, eps=eps)
        self.mlp = MLP(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mlp(self.norm(x))


def _check(dim: int, s: int, num_mlp_blocks: int) -> None:
    if s < 2:
        raise ValueError(f"shuffle window s must be >= 2 for the shuffle modules, got {s} (s=1 uses none)")
    if dim % (s * s):
        raise ValueError(f"dim={dim} must be divisible by s*s={s * s}")
    if num_mlp_blocks < 0:
        raise ValueError(f"num_mlp_blocks must be >= 0, got {num_mlp_blocks}")


class TokenShuffle(nn.Module):
    """(B, n, s², D) window-grouped token embeddings -> (B, n, D) one position per window."""

    def __init__(self, dim: int, *, s: int = 2, num_mlp_blocks: int = 2, eps: float = 1e-5) -> None:
        super().__init__()
        _check(dim, s, num_mlp_blocks)
        self.s = s
        self.compress = MLP(dim, dim // (s * s))
        self.blocks = nn.Sequential(*[ResidualMLP(dim, eps=eps) for _ in range(num_mlp_blocks)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, n, ss, D = x.shape
        x = self.compress(x)  # (B, n, s², D/s²)
        x = x.reshape(B, n, D)  # (B, n, D): concatenation of the window, raster order inside it
        return self.blocks(x)


class TokenUnshuffle(nn.Module):
    """(B, n, D) transformer outputs -> (B, n, s², D) one feature per image token of the window."""

    def __init__(self, dim: int, *, s: int = 2, num_mlp_blocks: int = 2, eps: float = 1e-5) -> None:
        super().__init__()
        _check(dim, s, num_mlp_blocks)
        self.s = s
        self.blocks = nn.Sequential(*[ResidualMLP(dim, eps=eps) for _ in range(num_mlp_blocks)])
        self.expand = MLP(dim // (s * s), dim)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        B, n, D = h.shape
        h = self.blocks(h)
        h = h.reshape(B, n, self.s * self.s, D // (self.s * self.s))  # (B, n, s², D/s²)
        return self.expand(h)  # (B, n, s², D)


class WindowAR(nn.Module):
    """(B, n, s², D) unshuffled features and the (B, n, s²) codes of those windows -> (B, n, s², D) where
    feature j has also seen codes 0..j-1 of its own window (raster order inside it), never code j or later.

    Beyond the paper. Token-Shuffle draws the s² codes of a window together, each from its own
    marginal (Sec. 3.2). Where a window's codes depend on each other (an object starts in it, or one of
    two named objects does) independent draws mix modes: half a window of one object beside background
    or another object, a window the training data never holds. This head, after TokenUnshuffle, adds
    the embedding of each window's previous code (a start symbol for code 0), one causal self-attention
    over the s² positions and a residual MLP. The decoder still runs once per window; in decoding only
    this small head runs s² times, one code after another. Its output layers start at zero, so it starts
    as the identity and a model trained without it loads unchanged (``reset_output``).
    """

    def __init__(self, dim: int, *, s: int, vocab_size: int, eps: float = 1e-5) -> None:
        super().__init__()
        _check(dim, s, 0)
        self.num_heads = max(1, dim // 64)
        self.start = vocab_size  # embedding row of the start symbol
        self.embed = nn.Embedding(vocab_size + 1, dim)
        self.norm = RMSNorm(dim, eps=eps)
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.proj = nn.Linear(dim, dim, bias=False)
        self.block = ResidualMLP(dim, eps=eps)
        self.reset_output()

    @torch.no_grad()
    def reset_output(self) -> None:
        """Zero the layers that write into the features: the module becomes the identity."""
        self.proj.weight.zero_()
        self.block.mlp.fc2.weight.zero_()
        self.block.mlp.fc2.bias.zero_()

    def forward(self, u: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        B, n, ss, D = u.shape
        H = self.num_heads
        prev = torch.cat([codes.new_full((B, n, 1), self.start), codes[..., :-1]], dim=-1)  # (B, n, s²)
        h = self.norm(u + self.embed(prev))  # (B, n, s², D): position j carries code j-1
        q, k, v = self.qkv(h).view(B * n, ss, 3, H, D // H).permute(2, 0, 3, 1, 4)  # 3 x (B n, H, s², D/H)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # (B n, H, s², D/H)
        a = a.transpose(1, 2).reshape(B, n, ss, D)  # (B, n, s², D)
        return self.block(u + self.proj(a))
