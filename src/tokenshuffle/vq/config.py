"""VQConfig: the architecture of a VQ image tokenizer, with named presets.

``vq-16`` and ``vq-8`` are LlamaGen's VQ-16 / VQ-8 (Sun et al., 2024, "Autoregressive Model Beats
Diffusion", tokenizer/tokenizer_image/vq_model.py): base width 128, channel multipliers
[1, 1, 2, 2, 4] / [1, 2, 2, 4], 2 residual blocks per level, z-channels 256, a 16384 x 8 codebook
with l2-normalised codes and latents, GroupNorm(32). The small presets keep the same layout with
fewer channels, fewer groups and a smaller codebook so they train on a CPU.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from tokenshuffle.errors import check_choice, check_fields, check_range

_PRESETS: dict[str, dict] = {
    "vq-16": dict(channel_mult=(1, 1, 2, 2, 4)),
    "vq-8": dict(channel_mult=(1, 2, 2, 4)),
    # Small downsample-16 tokenizer for synthetic scenes: 512^2 images -> 32x32 codes.
    "vq-16-small": dict(
        base_channels=16,
        channel_mult=(1, 1, 2, 4, 8),
        num_res_blocks=1,
        z_channels=64,
        codebook_size=1024,
        codebook_dim=8,
        norm_groups=8,
    ),
    # Small downsample-8 tokenizer for synthetic scenes: 256^2 images -> 32x32 codes, 512^2 -> 64x64.
    # 1024 codes, not 4096: the LM's output layer and softmax scale with the codebook, and 4096 codes
    # cost the LM ~35 % more per training step for fine background tones it then has to predict.
    "vq-8-small": dict(
        base_channels=16,
        channel_mult=(1, 2, 2, 4),
        num_res_blocks=1,
        z_channels=64,
        codebook_size=1024,
        codebook_dim=8,
        norm_groups=8,
    ),
    # Smallest preset, for tests and smoke runs.
    "vq-16-tiny": dict(
        base_channels=8,
        channel_mult=(1, 1, 2, 2, 4),
        num_res_blocks=1,
        z_channels=16,
        codebook_size=64,
        codebook_dim=4,
        norm_groups=4,
    ),
    "vq-8-tiny": dict(
        base_channels=8,
        channel_mult=(1, 2, 2, 4),
        num_res_blocks=1,
        z_channels=16,
        codebook_size=64,
        codebook_dim=4,
        norm_groups=4,
    ),
}

PRESET_NAMES = tuple(_PRESETS)
ENCODERS = ("conv", "patch")


@dataclass(frozen=True)
class VQConfig:
    """Encoder -> 1x1 conv to ``codebook_dim`` -> nearest code -> 1x1 conv -> decoder.

    The encoder has ``len(channel_mult)`` levels; every level but the last halves the resolution,
    so the downsample factor is ``patch_size * 2 ** (len(channel_mult) - 1)``. Level ``i`` has
    ``base_channels * channel_mult[i]`` channels; the lowest-resolution level and the middle block
    carry self-attention.
    """

    base_channels: int = 128
    channel_mult: tuple[int, ...] = (1, 1, 2, 2, 4)
    num_res_blocks: int = 2
    z_channels: int = 256
    codebook_size: int = 16384
    codebook_dim: int = 8
    l2_norm: bool = True
    norm_groups: int = 32
    norm: str = "group"  # "group": GroupNorm(norm_groups) as LlamaGen; "channel": per-pixel LayerNorm
    dropout: float = 0.0
    commitment_beta: float = 0.25
    # Space-to-depth stem: the encoder starts with pixel_unshuffle(patch_size) and the decoder ends
    # with pixel_shuffle(patch_size), so the convolutions run at 1/patch_size of the image side.
    # patch_size 2 around a downsample-8 network is a downsample-16 tokenizer at the cost of the
    # downsample-8 one at half the resolution (``vq.patching.patched``). 1 (none) for LlamaGen's.
    patch_size: int = 1
    # "conv": LlamaGen's convolutional encoder (with attention and the model's norm), each code a
    # function of the whole image. "patch": each code is a function of its own downsample x downsample
    # pixel patch only (space-to-depth, then a per-patch MLP of width 4 * z_channels): the same patch
    # gets the same code wherever it is and whatever surrounds it. The decoder is the same in both.
    encoder: str = "conv"

    def __post_init__(self):
        object.__setattr__(self, "channel_mult", tuple(int(m) for m in self.channel_mult))
        check_range("base_channels", self.base_channels, low=1)
        if not self.channel_mult or any(m < 1 for m in self.channel_mult):
            raise ValueError(f"channel_mult must be a non-empty list of positive ints, got {self.channel_mult}")
        check_range("num_res_blocks", self.num_res_blocks, low=1)
        check_range("z_channels", self.z_channels, low=1)
        check_range("codebook_size", self.codebook_size, low=2)
        check_range("codebook_dim", self.codebook_dim, low=1)
        check_range("norm_groups", self.norm_groups, low=1)
        check_choice("norm", self.norm, ("group", "channel"))
        check_range("dropout", self.dropout, low=0.0, high=1.0, high_open=True)
        check_range("commitment_beta", self.commitment_beta, low=0.0)
        check_range("patch_size", self.patch_size, low=1, high=8)
        check_choice("encoder", self.encoder, ENCODERS)
        for width in {self.base_channels * m for m in self.channel_mult}:
            if width % self.norm_groups:
                raise ValueError(
                    f"norm_groups={self.norm_groups} must divide every level width; "
                    f"base_channels * channel_mult gives {width}"
                )

    @property
    def groups(self) -> int:
        """GroupNorm groups for the blocks; 0 selects the per-pixel channel norm."""
        return self.norm_groups if self.norm == "group" else 0

    @property
    def downsample(self) -> int:
        return self.patch_size * 2 ** (len(self.channel_mult) - 1)

    @classmethod
    def preset(cls, name: str, **overrides) -> VQConfig:
        """A named architecture (``vq-16``, ``vq-8``, ``vq-16-small``, ...), optionally overridden."""
        check_choice("preset", name, PRESET_NAMES)
        return cls(**{**_PRESETS[name], **overrides})

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["channel_mult"] = list(self.channel_mult)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> VQConfig:
        check_fields(cls, d, what="VQConfig")
        return cls(**d)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)
