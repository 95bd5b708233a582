"""TokenShuffleLM: embeddings + TokenShuffle + LLaMA decoder + TokenUnshuffle + visual head.

Inputs are a token prefix ``[BOS] text [SOI] <h> <w>`` (B, P) and image codes grouped by window
(B, n, s²) (see ``tokenshuffle.model.shuffle.codes_to_windows``); each window becomes one decoder position.
``forward`` returns hidden states; ``image_logits`` maps the hidden state at one position to the
logits of all s² codes of the *next* window, through TokenUnshuffle and the shared visual head (and,
with ``LMConfig.window_ar``, ``WindowAR``, which reads the earlier codes of that window).
With s=1 there are no shuffle modules: the model is exactly a plain LLaMA-style LM whose image
logits are the image-code rows of its output layer.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn

from tokenshuffle.model.code_factors import CodeFactors
from tokenshuffle.model.config import LMConfig
from tokenshuffle.model.decoder import Decoder
from tokenshuffle.model.layers import kernels_ready, linear
from tokenshuffle.model.prompt_colours import PromptColours
from tokenshuffle.model.shuffle import TokenShuffle, TokenUnshuffle
from tokenshuffle.model.window_ar import WindowAR
from tokenshuffle.model.window_pos import WindowPosition


class TokenShuffleLM(nn.Module):
    def __init__(self, config: LMConfig) -> None:
        super().__init__()
        self.config = config
        s = config.shuffle_window
        self.tok_embeddings = nn.Embedding(config.vocab_size, config.dim)
        self.decoder = Decoder(config.decoder_config())
        # One output layer over the whole vocabulary; image logits use its image-code rows.
        self.output = nn.Linear(config.dim, config.vocab_size, bias=False)
        self.shuffle, self.unshuffle, self.window_ar = window_modules(config, s=s)
        self.code_factors = None
        if config.code_factors:
            self.code_factors = CodeFactors(config.image_vocab_size, config.code_factors, config.dim,
                                            flat_colours=config.prompt_colours if config.colour_free else 0,
                                            flat_inputs=not config.colour_slots)
        self.prompt_colours = None
        if config.prompt_colours:
            self.prompt_colours = PromptColours(image_vocab_size=config.image_vocab_size, classes=config.prompt_colours,
                                                text_vocab_size=config.text_vocab_size,
                                                max_text_len=config.max_text_len, dim=config.dim,
                                                slots=config.colour_slots)
        self.window_pos = None
        if config.window_pos:
            self.window_pos = WindowPosition(config.dim, max_side=config.max_grid_size)
        # One set of window modules per grid_windows entry, keyed "HxW"; lm.at(grid) uses them.
        own = {(h, w): config.decoder_grid((h, w)) == (h, w) for h, w, _ in config.grid_windows}
        self.grid_modules = nn.ModuleDict({f"{h}x{w}": GridWindow(config, s=s, own=own[h, w])
                                           for h, w, s in config.grid_windows})
        self._views: dict[str, TokenShuffleLM] = {}
        self.apply(self._init_weights)
        for m in [self.window_ar] + [g.window_ar for g in self.grid_modules.values()]:
            if m is not None:
                m.reset_output()
        if self.window_pos is not None:
            self.window_pos.reset()
        if self.prompt_colours is not None:
            self.prompt_colours.reset()

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=self.config.init_std)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)

    @property
    def s(self) -> int:
        return self.config.shuffle_window

    def at(self, grid: tuple[int, int]) -> TokenShuffleLM:
        """The model that draws code grid (h, w): this one, or for a ``grid_windows`` entry a view with that
        entry's window modules and this model's embeddings, decoder and output (the same tensors)."""
        key = f"{grid[0]}x{grid[1]}"
        if key not in self.grid_modules:
            return self
        if key not in self._views:
            self._views[key] = _GridView(self, grid=(int(grid[0]), int(grid[1])))
        return self._views[key]

    def named_grid(self, grid: tuple[int, int]) -> tuple[int, int]:
        """The grid (h, w) the prefix names for code grid ``grid`` (``LMConfig.named_grid``)."""
        return self.config.named_grid(grid)

    def cache_dtype(self) -> torch.dtype:
        """The KV cache's dtype: the weights', but on CPU a bf16 model keeps a bf16 cache only where
        tokenshuffle's decode attention reads it (``kernels_ready``), and float32 otherwise (fp16 too):
        torch's reduced-precision CPU attention runs 3-5x slower than its float32 kernel, enough that
        reading the cache at twice the bytes still gains."""
        p = self.output.weight
        if p.device.type != "cpu" or p.dtype == torch.float32:
            return p.dtype
        return torch.bfloat16 if p.dtype == torch.bfloat16 and kernels_ready() else torch.float32

    def setup_cache(self, *, batch: int, max_len: int, dtype: torch.dtype | None = None, device=None) -> None:
        p = self.output.weight
        self.decoder.setup_cache(batch=batch, max_len=max_len, dtype=dtype or self.cache_dtype(),
                                 device=device or p.device)

    def clear_cache(self) -> None:
        self.decoder.clear_cache()

    def keep_cache_rows(self, rows: torch.Tensor) -> None:
        """Drop every cached row but ``rows`` (a server dropping finished or abandoned requests)."""
        self.decoder.keep_cache_rows(rows)

    def embed_windows(self, windows: torch.Tensor) -> torch.Tensor:
        """(B, n, s²) codes in [0, V) -> (B, n, D), one decoder input per window."""
        if self.code_factors is not None:
            x = self.code_factors.embedding(windows)  # (B, n, s², D)
        else:
            x = self.tok_embeddings(windows + self.config.image_offset)  # (B, n, s², D)
        if self.shuffle is None:
            return x[:, :, 0]  # (B, n, D)
        return self.shuffle(x)

    def forward(
        self, prefix: torch.Tensor, windows: torch.Tensor, *, input_pos: torch.Tensor, valid: torch.Tensor,
        window_pos: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """prefix (B, P) ids and windows (B, n, s²) codes at ``input_pos`` (P+n,) -> hidden (B, P+n, D).

        ``valid`` (B, P+n) is False at left padding of the prefix; either part may be empty (P=0 for a
        decode step, n=0 for prefill). ``window_pos`` (P+n, 4), the window each position predicts
        (``sequence.next_window_positions``), is read by ``LMConfig.window_pos`` models only.
        """
        text = self.tok_embeddings(prefix)  # (B, P, D)
        if self.config.colour_blind and prefix.shape[1]:
            text = self.prompt_colours.blind(prefix, text, self.tok_embeddings.weight)
        x = torch.cat([text, self.embed_windows(windows)], dim=1)  # (B, P+n, D)
        if self.window_pos is not None:
            if window_pos is None:
                raise ValueError("this model has LMConfig.window_pos: forward needs window_pos (P+n, 4)")
            x = x + self.window_pos(window_pos)  # (P+n, D) broadcast over the batch
        return self.decoder(x, input_pos=input_pos, valid=valid)

    def window_features(self, hidden: torch.Tensor) -> torch.Tensor:
        """(B, n, D) hidden -> (B, n, s², D): one feature per code of each position's next window."""
        if self.unshuffle is None:
            return hidden[:, :, None]
        u = self.unshuffle(hidden)  # (B, n, s², D)
        return u if self.window_ar is None else self.window_ar.mix_features(u)

    def code_features(self, features: torch.Tensor, *, codes: torch.Tensor) -> torch.Tensor:
        """(B, n, k, D) features of the first k codes of windows whose first k codes are ``codes``
        (B, n, k) -> (B, n, k, D): feature j reads codes 0..j-1 of its window with ``window_ar``
        (causal, so k < s² gives the same first k features), none of them without."""
        return features if self.window_ar is None else self.window_ar(features, codes)

    def prompt_context(self, prefix: torch.Tensor, valid: torch.Tensor):
        """What ``LMConfig.prompt_colours`` reads of the (B, P) prefixes (``PromptColours.context``), or None
        for a model without it."""
        return None if self.prompt_colours is None else self.prompt_colours.context(prefix, valid)

    def colour_log_probs(self, features: torch.Tensor, context) -> torch.Tensor | None:
        """(B, ..., D) code features -> (B, ..., C) colour log-probabilities from the prompt's words
        (``PromptColours``), or None for a model without it."""
        if self.prompt_colours is None:
            return None
        if context is None:
            raise ValueError("this model has LMConfig.prompt_colours: its code logits need the prompt context "
                             "(lm.prompt_context(prefix, valid))")
        return self.prompt_colours.log_probs(features, context)

    def visual_head(self, features: torch.Tensor, *, colours: torch.Tensor | None = None) -> torch.Tensor:
        """(..., D) code features -> (..., V) logits over the image codes (the shared output layer's rows, or
        ``CodeFactors``), plus ``colours`` (..., C) from ``colour_log_probs`` where given."""
        if self.code_factors is not None:
            logits = self.code_factors.logits(features)
        else:
            logits = linear(features, self.output.weight[self.config.image_offset :])
        return logits if colours is None else self.prompt_colours.add(logits, colours)

    def code_logits(self, features: torch.Tensor, *, codes: torch.Tensor, context=None) -> torch.Tensor:
        """(B, n, s², D) window features and the (B, n, s²) codes of those windows -> (B, n, s², V) logits;
        ``context``: ``prompt_context`` of the rows (models with ``LMConfig.prompt_colours``)."""
        f = self.code_features(features, codes=codes)
        return self.visual_head(f, colours=self.colour_log_probs(f, context))

    def image_logits(self, hidden: torch.Tensor, *, codes: torch.Tensor, context=None) -> torch.Tensor:
        """(B, n, D) hidden -> (B, n, s², V) logits of the s² codes of each position's next window, whose
        codes (B, n, s²) are given (teacher forcing; see ``code_logits``)."""
        return self.code_logits(self.window_features(hidden), codes=codes, context=context)

    def text_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """(B, L, D) hidden -> (B, L, vocab) logits over the whole vocabulary (text loss, EOI)."""
        return self.output(hidden)


def window_modules(config: LMConfig, *, s: int) -> tuple[TokenShuffle | None, TokenUnshuffle | None, WindowAR | None]:
    """The modules around the decoder for window s: TokenShuffle, TokenUnshuffle and (``window_ar``) the
    window head; none of them at s=1."""
    if s == 1:
        return None, None, None
    kw = dict(s=s, num_mlp_blocks=config.num_mlp_blocks, eps=config.norm_eps)
    head = None
    if config.window_ar:
        head = WindowAR(config.dim, s=s, vocab_size=config.image_vocab_size, eps=config.norm_eps,
                        layers=config.window_ar_layers, mix=config.window_ar_mix)
    return TokenShuffle(config.dim, **kw), TokenUnshuffle(config.dim, **kw), head


class GridWindow(nn.Module):
    """The window modules of one ``LMConfig.grid_windows`` entry: TokenShuffle, TokenUnshuffle, window head;
    with ``own`` (``LMConfig.grid_own_decoder``, not shared) also its own embeddings, decoder and output."""

    def __init__(self, config: LMConfig, *, s: int, own: bool = False) -> None:
        super().__init__()
        self.shuffle, self.unshuffle, self.window_ar = window_modules(config, s=s)
        if own:
            self.tok_embeddings = nn.Embedding(config.vocab_size, config.dim)
            self.decoder = Decoder(config.decoder_config())
            self.output = nn.Linear(config.dim, config.vocab_size, bias=False)


class _GridView(TokenShuffleLM):
    """A TokenShuffleLM for one grid of a ``grid_windows`` model: the base's shared modules (the same
    objects, so training either trains both; with ``grid_own_decoder`` the grid's own embeddings, decoder
    and output instead, or those of its ``grid_shared_decoder`` owner) with the grid's own window modules;
    not registered in the base, so the base's state dict and parameters hold every tensor once."""

    def __init__(self, base: TokenShuffleLM, *, grid: tuple[int, int]) -> None:
        nn.Module.__init__(self)
        mods = base.grid_modules[f"{grid[0]}x{grid[1]}"]
        self.config = dataclasses.replace(base.config, shuffle_window=base.config.window_for(grid), grid_windows=(),
                                          grid_own_decoder=False, grid_shared_decoder=())
        owner = base.config.decoder_grid(grid)
        own = base.grid_modules[f"{owner[0]}x{owner[1]}"] if owner else base
        self.tok_embeddings, self.decoder, self.output = own.tok_embeddings, own.decoder, own.output
        self.shuffle, self.unshuffle, self.window_ar = mods.shuffle, mods.unshuffle, mods.window_ar
        self.code_factors, self.window_pos = base.code_factors, base.window_pos
        self.prompt_colours = base.prompt_colours
        self.grid_modules = nn.ModuleDict()
        self._views = {}
        object.__setattr__(self, "_base", base)  # a plain reference: not a submodule of its own view
        self._grid, self._named = tuple(grid), base.named_grid(grid)
        self.train(base.training)

    def at(self, grid: tuple[int, int]) -> TokenShuffleLM:
        return self._base.at(grid)

    def named_grid(self, grid: tuple[int, int]) -> tuple[int, int]:
        if tuple(grid) != self._grid:
            raise ValueError(f"this view draws the grid {self._grid[0]}x{self._grid[1]}, not {grid[0]}x{grid[1]}")
        return self._named
