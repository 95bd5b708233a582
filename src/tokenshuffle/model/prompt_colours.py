"""PromptColours (beyond the paper): a colour term of the code logits read from the prompt's words alone.

A decoder that has drawn hearts in nine colours and never a blue one draws "a blue heart" as a blue circle
or a green heart: its transformer state, and with it every code logit, mixes the colour word with the
shape word (docs/results.md, "Unseen colour-shape pairs"). This module gives each code a second score that
cannot mix them. Every image code has a colour class (a persistent buffer ``code_class``, measured on
training images by ``vq.code_factors.palette_factors``; class C is "no colour", the background). Each code
feature asks, by attention, which word of the prompt to read: keys are sums of the word's own embedding,
the next word's and the word's place among the prompt's words, plus one null slot; the values are
C colour scores per word, a table of the word alone. The attention mixes the words' values into colour
log-probabilities log q(c) (``log_probs``), and a code of class c < C gains log C q(c) in its logit
(``add``; 0 for a uniform q): a product of the decoder's distribution and q over the colours. What colour a word stands for
is one row of the value table, learnt from every shape drawn in that colour; which word to read is learnt
from every pair; so "blue" next to "heart" gives blue as firmly as next to "circle". Training adds a
cross-entropy of q against the colour class of each coloured target code (``train.step.LossConfig
.colour_weight``), so q is a calibrated colour guess of its own rather than a residual of the decoder's.
The values start at zero (q uniform), so a parent without the module keeps its code ranking at first.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

KEY_DIM = 32


class PromptColours(nn.Module):
    def __init__(self, *, image_vocab_size: int, classes: int, text_vocab_size: int, max_text_len: int,
                 dim: int) -> None:
        super().__init__()
        self.classes, self.null, self.no_place = classes, text_vocab_size, max_text_len
        # (V,) colour class of every image code; ``classes`` = no colour (background, unused codes)
        self.register_buffer("code_class", torch.full((image_vocab_size,), classes, dtype=torch.long))
        self.query = nn.Linear(dim, KEY_DIM, bias=False)
        self.word_key = nn.Embedding(text_vocab_size + 1, KEY_DIM)  # row text_vocab_size: the null slot / no word
        self.next_key = nn.Embedding(text_vocab_size + 1, KEY_DIM)
        self.place_key = nn.Embedding(max_text_len + 1, KEY_DIM)  # row max_text_len: the null slot
        self.word_value = nn.Embedding(text_vocab_size + 1, classes)

    @torch.no_grad()
    def reset(self) -> None:
        """Keys of unit scale and queries of unit gain (so attention can be learnt from the first step), and
        zero colour scores for every word: q uniform, the code ranking as without the module."""
        for table in (self.word_key, self.next_key, self.place_key):
            nn.init.normal_(table.weight)
        nn.init.normal_(self.query.weight, std=self.query.in_features ** -0.5)
        self.word_value.weight.zero_()

    @torch.no_grad()
    def set_classes(self, code_class: torch.Tensor) -> None:
        """Write the (V,) colour class of every code (``classes`` for none)."""
        bad = int(code_class.min()) < 0 or int(code_class.max()) > self.classes
        if code_class.shape != self.code_class.shape or bad:
            raise ValueError(f"code classes must be a ({self.code_class.shape[0]},) tensor in [0, {self.classes}]")
        self.code_class.copy_(code_class)

    def context(self, prefix: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, P) prefix ids and validity -> keys (B, P+1, K), values (B, P+1, C) and mask (B, P+1) over the
        prompt's words and the null slot (last); everything but the words is masked."""
        B = prefix.shape[0]
        words = valid & (prefix < self.null)  # (B, P) text tokens (ids below the specials)
        word = torch.where(words, prefix, self.null)  # (B, P)
        nxt = torch.cat([word[:, 1:], word.new_full((B, 1), self.null)], dim=1)  # (B, P) the next word or none
        place = torch.where(words, (words.cumsum(1) - 1).clamp(max=self.no_place - 1), self.no_place)  # (B, P)
        null = word.new_full((B, 1), self.null)
        word, nxt = torch.cat([word, null], 1), torch.cat([nxt, null], 1)  # (B, P+1)
        place = torch.cat([place, null.new_full((B, 1), self.no_place)], 1)  # (B, P+1)
        keys = self.word_key(word) + self.next_key(nxt) + self.place_key(place)  # (B, P+1, K)
        mask = torch.cat([words, words.new_ones(B, 1)], dim=1)  # (B, P+1)
        return keys, self.word_value(word), mask

    def log_probs(self, features: torch.Tensor, context) -> torch.Tensor:
        """(B, ..., D) code features and ``context`` of their rows -> (B, ..., C) colour log-probabilities."""
        keys, values, mask = context
        B, shape = features.shape[0], features.shape[1:-1]
        q = self.query(features.reshape(B, -1, features.shape[-1])).float()  # (B, M, K)
        scores = q @ keys.float().transpose(1, 2) / math.sqrt(KEY_DIM)  # (B, M, P+1)
        scores = scores.masked_fill(~mask[:, None], float("-inf"))
        mixed = scores.softmax(-1) @ values.float()  # (B, M, C)
        return F.log_softmax(mixed, dim=-1).reshape(B, *shape, self.classes)

    def add(self, logits: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
        """(..., V) code logits + (..., C) colour log-probabilities -> (..., V): code v gains log q(class v),
        codes of no colour nothing."""
        log_cq = log_q + math.log(self.classes)  # 0 where q is uniform: the code ranking without the module
        full = torch.cat([log_cq, log_cq.new_zeros(*log_q.shape[:-1], 1)], dim=-1)  # (..., C+1)
        return logits + full.index_select(-1, self.code_class).to(logits.dtype)
