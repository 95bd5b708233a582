"""Grow a tokenizer's downsample factor by a space-to-depth stem, keeping what it has learnt.

``patched(vq, patch_size=p)`` returns a tokenizer with ``VQConfig.patch_size`` p whose encoder sees
``pixel_unshuffle(image, p)`` and whose decoder ends in ``pixel_shuffle(·, p)``. Its first and last
convolutions are set so that, before any fine-tuning, it is exactly the old tokenizer run on a
p×-smaller image:

    patched.encode(x) == vq.encode(avg_pool(x, p))
    patched.decode(c) == nearest_upsample(vq.decode(c), p)

(``conv_in`` averages the p² sub-pixels of each channel, ``conv_out`` writes the same value to all
of them). A downsample-8 tokenizer trained at 256² so becomes a downsample-16 one for 512² at the
same cost per image, which a short decoder fine-tune at the new size then sharpens
(``VQTrainConfig.train_parts="decoder"`` leaves the codes as they are).
"""

from __future__ import annotations

import dataclasses

import torch

from tokenshuffle.errors import check_range
from tokenshuffle.vq.autoencoder import VQTokenizer
from tokenshuffle.vq.config import VQConfig


def is_patch_of(parent: VQConfig, child: VQConfig) -> bool:
    """True if ``child`` is ``parent`` with a larger ``patch_size`` and nothing else changed."""
    return child.patch_size > parent.patch_size == 1 and dataclasses.replace(child, patch_size=1) == parent


@torch.no_grad()
def patched(vq: VQTokenizer, *, patch_size: int) -> VQTokenizer:
    """``vq`` (patch_size 1) behind a ``patch_size`` space-to-depth stem; see the module docstring."""
    check_range("patch_size", patch_size, low=2, high=8)
    if vq.config.patch_size != 1:
        raise ValueError(f"patched: the tokenizer already has patch_size={vq.config.patch_size}; expected 1")
    p2 = patch_size * patch_size
    out = VQTokenizer(dataclasses.replace(vq.config, patch_size=patch_size)).to(vq.encoder.conv_in.weight.device)
    state = vq.state_dict()
    # pixel_unshuffle puts sub-pixel k of channel c at channel c * p² + k (k in raster order).
    w_in = state["encoder.conv_in.weight"]  # (C, 3, 3, 3)
    state["encoder.conv_in.weight"] = w_in.repeat_interleave(p2, dim=1) / p2  # (C, 3 p², 3, 3)
    w_out, b_out = state["decoder.conv_out.weight"], state["decoder.conv_out.bias"]  # (3, C, 3, 3), (3,)
    state["decoder.conv_out.weight"] = w_out.repeat_interleave(p2, dim=0)  # (3 p², C, 3, 3)
    state["decoder.conv_out.bias"] = b_out.repeat_interleave(p2, dim=0)  # (3 p²,)
    out.load_state_dict(state)
    return out.train(vq.training)
