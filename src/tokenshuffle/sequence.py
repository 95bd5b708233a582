"""Sequence layout: ``[PAD…] [BOS] text [SOI] <h> <w>`` prefixes, left-padded to one length, and the
teacher-forced batch (prefix + window-grouped codes) that training, evaluation and reranking score.

Left padding keeps every row's image positions aligned for batched decoding; padded keys are masked
and RoPE is relative, so a padded row attends exactly as its unpadded self would.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from tokenshuffle.model.config import LMConfig
from tokenshuffle.model.lm import TokenShuffleLM
from tokenshuffle.model.shuffle import codes_to_windows


def prefix_tokens(text_ids: list[int], *, grid: tuple[int, int], config: LMConfig) -> list[int]:
    h, w = grid
    text = list(text_ids)[: config.max_text_len]
    return [config.bos_id, *text, config.soi_id, config.grid_token(h), config.grid_token(w)]


def next_window_positions(input_pos: torch.Tensor, *, image_start: int, window_grid: tuple[int, int]) -> torch.Tensor:
    """(L,) sequence positions -> (L, 4) ``(row, col, rows, cols)`` of the window each one predicts, for an
    image of ``window_grid`` (rows, cols) windows whose first window sits at ``image_start``; -1 where none.

    The position before window k predicts it: ``image_start - 1`` predicts window 0, and the last window
    predicts none.
    """
    rows, cols = window_grid
    k = input_pos - (image_start - 1)  # (L,) window index predicted
    on = (k >= 0) & (k < rows * cols)
    r = torch.where(on, k // cols, -1)
    c = torch.where(on, k % cols, -1)
    size = torch.tensor([rows, cols], dtype=torch.long, device=input_pos.device).expand(len(input_pos), 2)
    return torch.cat([torch.stack([r, c], dim=-1), size], dim=-1)  # (L, 4)


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


@dataclass(frozen=True)
class Batch:
    prefix: torch.Tensor  # (B, P) left-padded [BOS] text [SOI] <h> <w>
    valid: torch.Tensor  # (B, P) False at padding
    windows: torch.Tensor  # (B, N, s²) image codes grouped by window
    # (K, 2) rows (caption, negative caption) of the same codes; negative rows come after the first
    # ``len(batch) - K`` rows and take no cross-entropy. None: no negatives.
    pairs: torch.Tensor | None = None
    window_grid: tuple[int, int] | None = None  # (rows, cols) of windows; needed by LMConfig.window_pos
    grid: tuple[int, int] | None = None  # (h, w) codes: picks the window modules (``lm.at``); None: the model's s

    def to(self, device) -> Batch:
        pairs = None if self.pairs is None else self.pairs.to(device)
        return Batch(self.prefix.to(device), self.valid.to(device), self.windows.to(device), pairs,
                     self.window_grid, self.grid)


def make_batch(texts: list[list[int]], codes: torch.Tensor, *, lm: TokenShuffleLM,
               negatives: list[list[int] | None] | None = None) -> Batch:
    """Tokenised captions and (B, h, w) codes -> a training batch (one grid size per batch).

    ``negatives`` (one per caption, None where there is none) appends a row for each negative with
    the same codes, paired with its caption's row in ``Batch.pairs``.
    """
    B, h, w = codes.shape
    pairs = None
    if negatives is not None:
        if len(negatives) != B:
            raise ValueError(f"{len(negatives)} negatives for {B} captions")
        keep = [i for i, n in enumerate(negatives) if n is not None]
        texts = list(texts) + [negatives[i] for i in keep]
        codes = torch.cat([codes, codes[keep]])  # (B + K, h, w)
        pairs = torch.tensor([[i, B + k] for k, i in enumerate(keep)], dtype=torch.long).view(-1, 2)
    lm = lm.at((h, w))
    prefix, valid = build_prefix(texts, grid=lm.named_grid((h, w)), config=lm.config)
    return Batch(prefix, valid, codes_to_windows(codes, s=lm.s), pairs, (h // lm.s, w // lm.s), (h, w))


def teacher_forced(lm: TokenShuffleLM, batch: Batch, *, colours: bool = False):
    """One forward pass over prefix and codes -> hidden (B, P+N, D) and fp32 image logits (B, N, s², V),
    window n's logits read at the position before it; with ``colours`` also the (B, N, s², C) colour
    log-probabilities of ``LMConfig.prompt_colours`` in them (None for a model without it)."""
    if batch.grid is not None:
        lm = lm.at(batch.grid)
    prefix, windows = batch.prefix, batch.windows
    B, P = prefix.shape
    N = windows.shape[1]
    valid = torch.cat([batch.valid, batch.valid.new_ones(B, N)], dim=1)  # (B, P+N)
    input_pos = torch.arange(P + N, device=prefix.device)
    window_pos = None
    if batch.window_grid is not None:
        window_pos = next_window_positions(input_pos, image_start=P, window_grid=batch.window_grid)  # (P+N, 4)
    hidden = lm(prefix, windows, input_pos=input_pos, valid=valid, window_pos=window_pos)  # (B, P+N, D)
    f = lm.code_features(lm.window_features(hidden[:, P - 1 : P - 1 + N]), codes=windows)  # (B, N, s², D)
    log_q = lm.colour_log_probs(f, lm.prompt_context(prefix, batch.valid))  # (B, N, s², C) or None
    logits = lm.visual_head(f, colours=log_q).float()  # (B, N, s², V)
    return (hidden, logits, log_q) if colours else (hidden, logits)
