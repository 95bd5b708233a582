"""WindowAR: the window head (beyond the paper): code j of a window conditions on codes 0..j-1 of it."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from tokenshuffle.model.layers import RMSNorm
from tokenshuffle.model.shuffle import ResidualMLP, check_modules


def window_attention(h: torch.Tensor, qkv: nn.Linear, proj: nn.Linear, *, heads: int, causal: bool) -> torch.Tensor:
    """(B, n, s², D) normed features -> (B, n, s², D): self-attention over the s² places of each window."""
    B, n, ss, D = h.shape
    q, k, v = qkv(h).view(B * n, ss, 3, heads, D // heads).permute(2, 0, 3, 1, 4)  # 3 x (B n, H, s², D/H)
    a = F.scaled_dot_product_attention(q, k, v, is_causal=causal)  # (B n, H, s², D/H)
    return proj(a.transpose(1, 2).reshape(B, n, ss, D))  # (B, n, s², D)


def cached_window_attention(h: torch.Tensor, qkv: nn.Linear, proj: nn.Linear, *, heads: int,
                            cache: tuple[torch.Tensor, torch.Tensor], j: int) -> torch.Tensor:
    """(rows, D) normed feature of place j -> (rows, D): causal attention of place j over places 0..j, the
    keys and values of 0..j-1 read from ``cache`` (k, v: (rows, H, s², D/H) float32) and place j's written
    there. Plain float32 products: at one query over at most s² keys they cost a few microseconds, where
    SDPA's reduced-precision CPU path costs hundreds."""
    rows, D = h.shape
    q, k, v = qkv(h).float().view(rows, 3, heads, D // heads).unbind(1)  # 3 x (rows, H, D/H)
    keys, values = cache
    keys[:, :, j], values[:, :, j] = k, v
    scores = torch.einsum("rhd,rhkd->rhk", q, keys[:, :, : j + 1]) * (D // heads) ** -0.5  # (rows, H, j+1)
    a = torch.einsum("rhk,rhkd->rhd", scores.softmax(-1), values[:, :, : j + 1])  # (rows, H, D/H)
    return proj(a.reshape(rows, D).to(h.dtype))  # (rows, D)


class WindowBlock(nn.Module):
    """x + attention(norm(x)) over a window's s² places (causal or not), then a residual MLP; its output
    layers start at zero (``reset_output``), so a new block starts as the identity."""

    def __init__(self, dim: int, *, heads: int, causal: bool, eps: float = 1e-5) -> None:
        super().__init__()
        self.heads, self.causal = heads, causal
        self.norm = RMSNorm(dim, eps=eps)
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.proj = nn.Linear(dim, dim, bias=False)
        self.block = ResidualMLP(dim, eps=eps)

    @torch.no_grad()
    def reset_output(self) -> None:
        self.proj.weight.zero_()
        self.block.mlp.fc2.weight.zero_()
        self.block.mlp.fc2.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + window_attention(self.norm(x), self.qkv, self.proj, heads=self.heads, causal=self.causal)
        return self.block(x)  # (B, n, s², D)


class WindowAR(nn.Module):
    """(B, n, s², D) unshuffled features and the (B, n, s²) codes of those windows -> (B, n, s², D) where
    feature j has also seen codes 0..j-1 of its own window (raster order inside it), never code j or later.

    Beyond the paper. Token-Shuffle draws the s² codes of a window together, each from its own
    marginal (Sec. 3.2). Where a window's codes depend on each other (an object starts in it, or one of
    two named objects does) independent draws mix modes: half a window of one object beside background
    or another object, a window the training data never holds. This head, after TokenUnshuffle, adds
    the embedding of each window's previous code (a start symbol for code 0), one causal self-attention
    over the s² positions and a residual MLP; ``layers - 1`` further causal blocks follow. The decoder
    still runs once per window; in decoding only this small head runs s² times, one code after another.

    ``mix`` adds a block of attention over the s² features *before* the codes enter (``mix_features``,
    called by ``TokenShuffleLM.window_features``): TokenUnshuffle gives each code only its D/s² slice of
    the position's output (16 of 256 features at s=4 on a dim-256 decoder), and code 0, which sees no
    earlier code, reads nothing else; mixed, every code's feature reads the whole position. The features
    carry no code of the window, so this attention need not be causal.

    Every output layer starts at zero, so the head starts as the identity and a model trained without
    it, or with fewer blocks, loads unchanged (``reset_output``).
    """

    def __init__(self, dim: int, *, s: int, vocab_size: int, eps: float = 1e-5, layers: int = 1,
                 mix: bool = False) -> None:
        super().__init__()
        check_modules(dim, s, 0)
        if layers < 1:
            raise ValueError(f"WindowAR layers must be >= 1, got {layers}")
        self.num_heads = max(1, dim // 64)
        self.start = vocab_size  # embedding row of the start symbol
        self.embed = nn.Embedding(vocab_size + 1, dim)
        self.norm = RMSNorm(dim, eps=eps)
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.proj = nn.Linear(dim, dim, bias=False)
        self.block = ResidualMLP(dim, eps=eps)
        self.layers = nn.ModuleList(WindowBlock(dim, heads=self.num_heads, causal=True, eps=eps)
                                    for _ in range(layers - 1))
        self.mix = WindowBlock(dim, heads=self.num_heads, causal=False, eps=eps) if mix else None
        self.reset_output()

    @torch.no_grad()
    def reset_output(self) -> None:
        """Zero the layers that write into the features: the module becomes the identity."""
        self.proj.weight.zero_()
        self.block.mlp.fc2.weight.zero_()
        self.block.mlp.fc2.bias.zero_()
        for b in [*self.layers, self.mix]:
            if b is not None:
                b.reset_output()

    def mix_features(self, u: torch.Tensor) -> torch.Tensor:
        """(B, n, s², D) features of whole windows -> the same, each having read all s² (``mix``; else u)."""
        return u if self.mix is None else self.mix(u)

    def new_cache(self, *, rows: int, places: int, device=None) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """An empty float32 key/value cache for ``step`` over windows of ``places`` codes, ``rows`` at once:
        one (k, v) pair of (rows, H, places, D/H) per attention layer."""
        dim = self.embed.embedding_dim
        shape = (rows, self.num_heads, places, dim // self.num_heads)
        return [tuple(torch.empty(shape, dtype=torch.float32, device=device) for _ in range(2))
                for _ in range(1 + len(self.layers))]

    def step(self, u: torch.Tensor, prev: torch.Tensor, *, j: int,
             cache: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        """Incremental ``forward`` for decoding: (rows, D) feature of place j and (rows,) code j-1 (the start
        symbol ``self.start`` at j=0) -> (rows, D), what ``forward`` gives at place j. The places before j
        are read from ``cache`` (``new_cache``, filled by the calls for 0..j-1), so drawing a window of s²
        codes costs s² places, not the s⁴ of running ``forward`` over each prefix."""
        h = self.norm(u + self.embed(prev))  # (rows, D)
        x = self.block(u + cached_window_attention(h, self.qkv, self.proj, heads=self.num_heads, cache=cache[0], j=j))
        for b, c in zip(self.layers, cache[1:], strict=True):
            x = x + cached_window_attention(b.norm(x), b.qkv, b.proj, heads=b.heads, cache=c, j=j)
            x = b.block(x)
        return x  # (rows, D)

    def forward(self, u: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        prev = torch.cat([codes.new_full(codes.shape[:-1] + (1,), self.start), codes[..., :-1]], dim=-1)  # (B, n, s²)
        h = self.norm(u + self.embed(prev))  # (B, n, s², D): position j carries code j-1
        x = self.block(u + window_attention(h, self.qkv, self.proj, heads=self.num_heads, causal=True))
        for b in self.layers:
            x = b(x)
        return x  # (B, n, s², D)
