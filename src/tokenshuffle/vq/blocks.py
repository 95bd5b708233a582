"""Building blocks of the VQ encoder/decoder (the taming-transformers / LlamaGen layout).

Numerics follow LlamaGen exactly so converted checkpoints reproduce its outputs: GroupNorm with
eps 1e-6, SiLU, pre-norm residual blocks with a 1x1 skip when the width changes, single-head
attention scaled by 1/sqrt(C), downsampling by a stride-2 3x3 conv after padding one pixel on the
right and bottom only, upsampling by nearest-neighbour x2 followed by a 3x3 conv.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ChannelNorm(nn.Module):
    """LayerNorm over the channels of each pixel of a (B, C, H, W) map, with a per-channel affine.

    GroupNorm normalises each group over the whole map, so a feature that is constant across the
    map (a flat background colour, a shape's flat interior filling a crop) keeps only its pattern
    within the group: its offset and scale, and with one channel per group all of it, are erased.
    This norm keeps the feature vector of each pixel up to its own mean and scale. An option
    (``VQConfig(norm="channel")``) for flat-coloured synthetic images; no preset uses it yet."""

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.layer_norm(x.permute(0, 2, 3, 1), x.shape[1:2], self.weight, self.bias, self.eps)  # (B, H, W, C)
        return h.permute(0, 3, 1, 2)


def group_norm(channels: int, groups: int) -> nn.Module:
    """GroupNorm(``groups``) as LlamaGen; ``groups=0`` selects ``ChannelNorm``."""
    if groups == 0:
        return ChannelNorm(channels)
    return nn.GroupNorm(num_groups=groups, num_channels=channels, eps=1e-6, affine=True)


class ResBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, *, groups: int, dropout: float = 0.0):
        super().__init__()
        self.norm1 = group_norm(in_channels, groups)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.norm2 = group_norm(out_channels, groups)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.skip = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


class AttnBlock(nn.Module):
    """Single-head self-attention over all positions of a feature map, with a residual."""

    def __init__(self, channels: int, *, groups: int):
        super().__init__()
        self.norm = group_norm(channels, groups)
        self.q = nn.Conv2d(channels, channels, 1)
        self.k = nn.Conv2d(channels, channels, 1)
        self.v = nn.Conv2d(channels, channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, C, H, W = x.shape
        h = self.norm(x)
        q, k, v = (conv(h).flatten(2).transpose(1, 2) for conv in (self.q, self.k, self.v))  # (B, HW, C)
        out = F.scaled_dot_product_attention(q, k, v)  # (B, HW, C), default scale 1/sqrt(C)
        out = out.transpose(1, 2).reshape(B, C, H, W)  # (B, C, H, W)
        return x + self.proj(out)


class Downsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Asymmetric (right/bottom) padding keeps H/2 x W/2 exactly, as in taming/LlamaGen.
        return self.conv(F.pad(x, (0, 1, 0, 1)))


class Upsample(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class MidBlock(nn.Module):
    """ResBlock -> attention -> ResBlock at the lowest resolution."""

    def __init__(self, channels: int, *, groups: int, dropout: float):
        super().__init__()
        self.block1 = ResBlock(channels, channels, groups=groups, dropout=dropout)
        self.attn = AttnBlock(channels, groups=groups)
        self.block2 = ResBlock(channels, channels, groups=groups, dropout=dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block2(self.attn(self.block1(x)))


class Level(nn.Module):
    """``num_blocks`` ResBlocks (each followed by attention when ``attn``), then optional resampling."""

    def __init__(self, in_channels: int, out_channels: int, *, num_blocks: int, attn: bool,
                 resample: type[nn.Module] | None, groups: int, dropout: float):
        super().__init__()
        widths = [in_channels] + [out_channels] * num_blocks
        self.blocks = nn.ModuleList(
            ResBlock(widths[i], widths[i + 1], groups=groups, dropout=dropout) for i in range(num_blocks)
        )
        self.attns = nn.ModuleList(AttnBlock(out_channels, groups=groups) for _ in range(num_blocks if attn else 0))
        self.resample = resample(out_channels) if resample is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, block in enumerate(self.blocks):
            x = block(x)
            if self.attns:
                x = self.attns[i](x)
        return self.resample(x) if self.resample is not None else x
