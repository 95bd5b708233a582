"""PromptColours (beyond the paper): a colour term of the code logits read from the prompt's colour words.

A decoder that has drawn hearts in nine colours and never a blue one draws "a blue heart" as a blue circle
or a green heart: its transformer state, and with it every code logit, mixes the colour word with the
shape word (docs/results.md, "Unseen colour-shape pairs"). This module gives each code a second score in
which they cannot mix. Every image code has a colour class (a persistent buffer ``code_class``, measured on
training images by ``vq.code_factors.palette_factors``; class C is "no colour", the background), and every
colour word of the text vocabulary its class (``word_class``, set from the palette's colour names). Each
code feature asks, by attention, which word of the prompt to read: keys are sums of the word's own
embedding, the next word's and the word's place among the prompt's words, plus one null slot. A colour
word's value is its class, one-hot, times a learnt ``strength``; every other word and the null slot have
value zero. The attention mixes the values into colour log-probabilities log q(c) (``log_probs``), and a
code of class c < C gains log C q(c) in its logit (``add``; 0 for a uniform q): a product of the decoder's
distribution and q over the colours. Only which word to read is learnt from the pairs; what a word says
is fixed, so a shape word cannot carry the colours its shape was drawn in, and "blue" next to "heart"
says blue as firmly as next to "circle". Training adds a cross-entropy of q against the colour class of
each coloured target code (``train.step.LossConfig.colour_weight``). With ``LMConfig.colour_blind`` the
decoder reads every colour word as their mean (``blind``), so only this term knows which colour was named.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

KEY_DIM = 32
# The colour score of a word read alone, at the start (q of its colour: 0.997 of 10). A scalar moves about lr
# a step, so training keeps it near its start: 8 is where a trained term's colour cross-entropy on the tuning
# prompts' scenes was lowest (docs/results.md, "Unseen colour-shape pairs").
START_STRENGTH = 8.0


class PromptColours(nn.Module):
    def __init__(self, *, image_vocab_size: int, classes: int, text_vocab_size: int, max_text_len: int,
                 dim: int, slots: bool = False) -> None:
        super().__init__()
        self.classes, self.null, self.no_place = classes, text_vocab_size, max_text_len
        # (V,) colour class of every image code; ``classes`` = no colour (background, unused codes)
        self.register_buffer("code_class", torch.full((image_vocab_size,), classes, dtype=torch.long))
        # (text vocab + 1,) colour class of every word; ``classes`` = not a colour word (and the null slot)
        self.register_buffer("word_class", torch.full((text_vocab_size + 1,), classes, dtype=torch.long))
        self.query = nn.Linear(dim, KEY_DIM, bias=False)
        self.word_key = nn.Embedding(text_vocab_size + 1, KEY_DIM)  # row text_vocab_size: the null slot / no word
        self.next_key = nn.Embedding(text_vocab_size + 1, KEY_DIM)
        self.place_key = nn.Embedding(max_text_len + 1, KEY_DIM)  # row max_text_len: the null slot
        self.strength = nn.Parameter(torch.tensor(START_STRENGTH))
        self.slot_key = nn.Parameter(torch.zeros(classes, KEY_DIM)) if slots else None  # (C, K) one slot per colour

    @torch.no_grad()
    def reset(self) -> None:
        """Keys of unit scale and queries of unit gain (so attention can be learnt from the first step)."""
        for table in (self.word_key, self.next_key, self.place_key):
            nn.init.normal_(table.weight)
        if self.slot_key is not None:
            nn.init.normal_(self.slot_key)
        nn.init.normal_(self.query.weight, std=self.query.in_features ** -0.5)
        self.strength.fill_(START_STRENGTH)

    @torch.no_grad()
    def set_classes(self, code_class: torch.Tensor) -> None:
        """Write the (V,) colour class of every code (``classes`` for none)."""
        self.code_class.copy_(self._checked("code classes", code_class, self.code_class))

    @torch.no_grad()
    def set_words(self, word_class: torch.Tensor) -> None:
        """Write the (text vocab,) colour class of every word (``classes`` for a word that names no colour)."""
        self.word_class[:-1] = self._checked("word classes", word_class, self.word_class[:-1])

    def _checked(self, what: str, given: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        if given.shape != like.shape or int(given.min()) < 0 or int(given.max()) > self.classes:
            raise ValueError(f"{what} must be a ({like.shape[0]},) tensor in [0, {self.classes}]")
        return given

    def context(self, prefix: torch.Tensor, valid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, P) prefix ids and validity -> float32 keys (B, S, K), values (B, S, C) and mask (B, S) over the
        prompt's words, the null slot and, with ``slots``, the C colour slots (S = P + 1 or P + 1 + C); everything
        but the words and slots is masked. Made once per prompt batch and read for every drawn code."""
        B = prefix.shape[0]
        words = valid & (prefix < self.null)  # (B, P) text tokens (ids below the specials)
        word = torch.where(words, prefix, self.null)  # (B, P)
        nxt = torch.cat([word[:, 1:], word.new_full((B, 1), self.null)], dim=1)  # (B, P) the next word or none
        place = torch.where(words, (words.cumsum(1) - 1).clamp(max=self.no_place - 1), self.no_place)  # (B, P)
        null = word.new_full((B, 1), self.null)
        word, nxt = torch.cat([word, null], 1), torch.cat([nxt, null], 1)  # (B, P+1)
        place = torch.cat([place, null.new_full((B, 1), self.no_place)], 1)  # (B, P+1)
        keys = self.word_key(word) + self.next_key(nxt) + self.place_key(place)  # (B, P+1, K)
        values = F.one_hot(self.word_class[word], self.classes + 1)[..., : self.classes] * self.strength  # (B, P+1, C)
        mask = torch.cat([words, words.new_ones(B, 1)], dim=1)  # (B, P+1)
        if self.slot_key is not None:
            C = self.classes
            keys = torch.cat([keys, self.slot_key.to(keys.dtype).expand(B, C, -1)], 1)  # (B, P+1+C, K)
            eye = torch.eye(C, device=values.device, dtype=values.dtype) * self.strength
            values = torch.cat([values, eye.expand(B, C, C)], 1)  # (B, P+1+C, C)
            mask = torch.cat([mask, mask.new_ones(B, C)], 1)  # (B, P+1+C)
        return keys.float(), values.float(), mask

    def blind(self, prefix: torch.Tensor, text: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
        """(B, P) prefix ids and their (B, P, D) embeddings from ``table`` (vocab, D) -> (B, P, D) with every
        colour word's embedding replaced by the mean of the colour words' rows (``LMConfig.colour_blind``)."""
        colour = (self.word_class[:-1] < self.classes).to(table.dtype)  # (T,) 1 for a colour word
        mean = colour @ table[: self.null] / colour.sum().clamp(min=1)  # (D,)
        is_colour = (prefix < self.null) & (self.word_class[prefix.clamp(max=self.null)] < self.classes)  # (B, P)
        return torch.where(is_colour[..., None], mean.to(text.dtype), text)

    def log_probs(self, features: torch.Tensor, context) -> torch.Tensor:
        """(B, ..., D) code features and ``context`` of their rows -> (B, ..., C) colour log-probabilities."""
        keys, values, mask = context
        B, shape = features.shape[0], features.shape[1:-1]
        q = self.query(features.reshape(B, -1, features.shape[-1])).float()  # (B, M, K)
        scores = q @ keys.transpose(1, 2) / math.sqrt(KEY_DIM)  # (B, M, P+1)
        scores = scores.masked_fill(~mask[:, None], float("-inf"))
        mixed = scores.softmax(-1) @ values  # (B, M, C)
        return F.log_softmax(mixed, dim=-1).reshape(B, *shape, self.classes)

    def add(self, logits: torch.Tensor, log_q: torch.Tensor) -> torch.Tensor:
        """(..., V) code logits + (..., C) colour log-probabilities -> (..., V): code v gains log C q(class v),
        codes of no colour nothing."""
        log_cq = log_q + math.log(self.classes)  # 0 where q is uniform: the code ranking without the module
        full = torch.cat([log_cq, log_cq.new_zeros(*log_q.shape[:-1], 1)], dim=-1)  # (..., C+1)
        return logits + full.index_select(-1, self.code_class).to(logits.dtype)
