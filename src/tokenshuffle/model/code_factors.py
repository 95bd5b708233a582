"""CodeFactors (beyond the paper): image codes embedded and scored through what each code draws.

With ``LMConfig.code_factors = F`` the decoder no longer holds a free row per image code. Each code c has
fixed features phi(c) (F floats, a persistent buffer ``table`` written once, e.g. by
``vq.code_factors.palette_factors``: a one-hot colour class and a pooled foreground mask), its input is
``embed(phi(c))`` and its logit ``head(feature) . phi(c) + bias[c]``. Both are linear in phi, so a
colour and an outline contribute separately: a colour-shape pair that no training image holds is built
from the colour's and the outline's parts, each learnt from the pairs that do occur. The per-code bias
keeps each code's base rate among the codes whose features are the same (the plain background and a
few near-grey codes share theirs), so it starts at the log of that share; a code with no features (one
no training image uses) starts at ``UNUSED``.

With ``flat_colours = k`` (``LMConfig.colour_free``) the first k features, a one-hot colour class, reach
neither side as a colour: the input sees their mean (coloured or not, not which colour; unless
``flat_inputs`` is False) and the k colour scores are replaced by their log-mean-exp, so the decoder keeps
how likely a coloured code is and cannot say which colour; another term (``PromptColours``) says that.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from tokenshuffle.model.layers import linear

UNUSED = -30.0  # the starting logit bias of a code whose feature row is all zero


class CodeFactors(nn.Module):
    def __init__(self, vocab_size: int, num_features: int, dim: int, *, flat_colours: int = 0,
                 flat_inputs: bool = True) -> None:
        super().__init__()
        if not 0 <= flat_colours < num_features:
            raise ValueError(f"flat_colours must be in [0, {num_features}), got {flat_colours}")
        self.flat_colours, self.flat_inputs = flat_colours, flat_inputs
        self.register_buffer("table", torch.zeros(vocab_size, num_features))  # (V, F) phi of every code
        self.embed = nn.Linear(num_features, dim, bias=False)
        self.head = nn.Linear(dim, num_features, bias=False)
        self.bias = nn.Parameter(torch.zeros(vocab_size))

    @torch.no_grad()
    def set_table(self, table: torch.Tensor, counts: torch.Tensor | None = None) -> None:
        """Write the (V, F) features. The bias starts at log(count / the summed count of the codes with the
        same features) with ``counts`` (V,) (how often each code occurs), at 0 without, and at ``UNUSED``
        for a code without features."""
        if table.shape != self.table.shape:
            raise ValueError(f"code factor table must have shape {tuple(self.table.shape)}, got {tuple(table.shape)}")
        self.table.copy_(table)
        bias = torch.zeros(table.shape[0])
        if counts is not None:
            _, group = torch.unique(table, dim=0, return_inverse=True)  # (V,) id of each code's feature row
            total = torch.zeros(int(group.max()) + 1).index_add_(0, group, counts.float())
            bias = (counts.float().clamp(min=1) / total[group].clamp(min=1)).log()
        self.bias.copy_(torch.where(table.any(1), bias, UNUSED))

    def embedding(self, codes: torch.Tensor) -> torch.Tensor:
        """(...) codes in [0, V) -> (..., D) inputs."""
        phi = self.table[codes]  # (..., F)
        if self.flat_colours and self.flat_inputs:
            k = self.flat_colours
            phi = torch.cat([phi[..., :k].mean(-1, keepdim=True).expand(*phi.shape[:-1], k), phi[..., k:]], -1)
        return self.embed(phi.to(self.embed.weight.dtype))

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """(..., D) code features -> (..., V) logits."""
        score = self.head(features)  # (..., F)
        if self.flat_colours:
            k = self.flat_colours
            flat = score[..., :k].float().logsumexp(-1, keepdim=True) - math.log(k)  # (..., 1)
            score = torch.cat([flat.to(score.dtype).expand(*score.shape[:-1], k), score[..., k:]], -1)
        return linear(score, self.table.to(features.dtype)) + self.bias.to(features.dtype)
