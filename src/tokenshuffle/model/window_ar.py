"""WindowAR: the window head (beyond the paper): code j of a window conditions on codes 0..j-1 of it."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from tokenshuffle.model.layers import RMSNorm
from tokenshuffle.model.shuffle import ResidualMLP, check_modules


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
        check_modules(dim, s, 0)
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
