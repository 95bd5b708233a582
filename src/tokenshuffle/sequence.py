"""Sequence layout: ``[PAD…] [BOS] text [SOI] <h> <w>`` prefixes, left-padded to one length.

Left padding keeps every row's image positions aligned for batched decoding; padded keys are masked
and RoPE is relative, so a padded row attends exactly as its unpadded self would.
"""

from __future__ import annotations

import torch

from tokenshuffle.model.config import LMConfig


def prefix_tokens(text_ids: list[int], *, grid: tuple[int, int], config: LMConfig) -> list[int]:
    h, w = grid
    text = list(text_ids)[: config.max_text_len]
    return [config.bos_id, *text, config.soi_id, config.grid_token(h), config.grid_token(w)]


def build_prefix(
    texts: list[list[int]], *, grid: tuple[int, int], config: LMConfig, guidance: bool = False, pad_to: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Token prefixes (B, P) and their validity mask (B, P) for a batch of tokenised texts.

    With ``guidance`` the batch is doubled as ``[cond; uncond]``: rows B..2B-1 hold the empty prompt,
    the unconditional branch of classifier-free guidance (trained through caption dropout).
    """
    rows = [prefix_tokens(t, grid=grid, config=config) for t in texts]
    if guidance:
        rows += [prefix_tokens([], grid=grid, config=config) for _ in texts]
    length = max(pad_to, max(len(r) for r in rows))
    ids = torch.full((len(rows), length), config.pad_id, dtype=torch.long)
    valid = torch.zeros((len(rows), length), dtype=torch.bool)
    for i, r in enumerate(rows):
        ids[i, length - len(r) :] = torch.tensor(r, dtype=torch.long)
        valid[i, length - len(r) :] = True
    return ids, valid
