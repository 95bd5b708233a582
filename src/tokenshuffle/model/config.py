"""LMConfig: the Token-Shuffle language model's architecture and its vocabulary layout.

One vocabulary holds, in this order: text tokens [0, T), four specials (PAD, BOS, SOI, EOI), one grid
token per size 1..max_grid_size, then the image codes [image_offset, image_offset + V). A sequence is
``[BOS] text [SOI] <h> <w> image-positions [EOI]``; carrying the grid (h, w) as tokens lets one model
serve several resolutions and aspect ratios.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from tokenshuffle.errors import check_fields
from tokenshuffle.model.decoder import DecoderConfig

NUM_SPECIAL = 4


@dataclass(frozen=True)
class LMConfig:
    dim: int = 768
    num_layers: int = 12
    num_heads: int = 12
    num_kv_heads: int | None = None  # None: same as num_heads (no grouping)
    ffn_hidden: int | None = None  # None: 8/3 * dim rounded up to multiple_of, as LLaMA
    multiple_of: int = 256
    norm_eps: float = 1e-5
    rope_theta: float = 10000.0
    # None, or Llama 3.1's frequency scaling as in a Hugging Face config: {"rope_type": "llama3", "factor",
    # "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"} (layers.llama3_scaled).
    rope_scaling: dict | None = None
    qk_norm: bool = False
    max_seq_len: int = 2048
    text_vocab_size: int = 256
    max_text_len: int = 120
    image_vocab_size: int = 16384
    max_grid_size: int = 128
    shuffle_window: int = 1
    num_mlp_blocks: int = 2
    init_std: float = 0.02
    # Beyond the paper: code j of a window also conditions on codes 0..j-1 of it (modules.WindowAR);
    # False is the paper's parallel draw of all s² codes from their own marginals.
    window_ar: bool = False
    # The window head's causal blocks (1: the first head), and ``window_ar_mix``: a block of attention over
    # the window's s² features before its codes enter, so each code reads the whole position (WindowAR).
    window_ar_layers: int = 1
    window_ar_mix: bool = False
    # Beyond the paper: each position's input also carries the row, column and image fraction of the
    # window it predicts (modules.WindowPosition; zero at the start, so a parent without it loads unchanged).
    window_pos: bool = False
    # Beyond the paper: > 0 embeds and scores image codes linearly in this many fixed features of what each
    # code draws (model.code_factors.CodeFactors) instead of a free row per code; 0 is the plain model.
    code_factors: int = 0
    # Beyond the paper: > 0 adds to each image code's logit a colour term read from the prompt's words alone
    # (model.prompt_colours.PromptColours) over this many colour classes; 0 is the plain model.
    prompt_colours: int = 0
    # Beyond the paper: with prompt_colours, the decoder reads every colour word of the prompt as one and the
    # same word (the mean of the colour words' embeddings), so the colour it draws comes from the colour term
    # alone and the shape it draws from the other words alone ("blue" cannot say "not a heart").
    colour_blind: bool = False
    # Beyond the paper: with code_factors and prompt_colours, the decoder neither reads nor scores which colour a
    # code has (CodeFactors flat_colours: its first prompt_colours features, the colour class, reach it only as
    # "coloured"); it draws outlines and the colour term paints them.
    colour_free: bool = False
    # Beyond the paper: with colour_free, the colour term also has one slot per colour (PromptColours slots) and the
    # decoder reads the drawn codes' colours again, so it can say "go on in this colour" through the term.
    colour_slots: bool = False
    # Beyond the paper: (h, w, s) entries, a code grid this model serves with its own window s (larger than
    # shuffle_window) so the decoder sees the window grid it was trained on: TokenShuffle, TokenUnshuffle
    # and the window head of that s are the grid's own (``lm.at(grid)``); embeddings, decoder and output are
    # shared (unless grid_own_decoder), and the prefix names the grid at shuffle_window (``named_grid``).
    # E.g. (64, 64, 4) on a 512² s=2 model: 1024² in the same 16x16 decoder positions.
    grid_windows: tuple[tuple[int, int, int], ...] = ()
    # Beyond the paper: each grid_windows entry also owns its embeddings, decoder and output (copies of the
    # base's shapes) instead of sharing them, so a stage that trains only ``grid_modules`` teaches a new size
    # and leaves every other size bit-identical.
    grid_own_decoder: bool = False
    # Beyond the paper: (h, w, H, W) entries, grid h x w draws with the own embeddings, decoder and output of
    # grid H x W (both grid_windows entries, grid_own_decoder on) and owns only its window modules: one
    # high-resolution decoder for several sizes and aspect ratios, e.g. (32, 64, 64, 64) for 1024x512.
    grid_shared_decoder: tuple[tuple[int, int, int, int], ...] = ()

    def __post_init__(self) -> None:
        positive = ("dim", "num_layers", "num_heads", "max_seq_len", "text_vocab_size", "image_vocab_size",
                    "max_grid_size", "shuffle_window", "multiple_of", "max_text_len")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"LMConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.dim % self.num_heads or (self.dim // self.num_heads) % 2:
            raise ValueError(f"LMConfig.dim={self.dim} must be a multiple of 2*num_heads={2 * self.num_heads}")
        if self.kv_heads < 1 or self.num_heads % self.kv_heads:
            raise ValueError(f"LMConfig.num_kv_heads={self.num_kv_heads} must divide num_heads={self.num_heads}")
        s = self.shuffle_window
        if self.dim % (s * s):
            raise ValueError(f"LMConfig.shuffle_window={s}: dim={self.dim} must be divisible by s*s={s * s}")
        if self.window_ar and s < 2:
            raise ValueError(f"LMConfig.window_ar needs shuffle_window >= 2 (a window of one code has nothing "
                             f"to condition on), got shuffle_window={s}")
        if self.window_ar_layers < 1:
            raise ValueError(f"LMConfig.window_ar_layers must be >= 1, got {self.window_ar_layers}")
        if not self.window_ar and (self.window_ar_layers != 1 or self.window_ar_mix):
            raise ValueError("LMConfig.window_ar_layers and window_ar_mix shape the window head: they need "
                             "window_ar=True")
        if self.rope_scaling is not None:
            object.__setattr__(self, "rope_scaling", _check_rope_scaling(self.rope_scaling))
        if self.code_factors < 0:
            raise ValueError(f"LMConfig.code_factors must be >= 0 (0 = off), got {self.code_factors}")
        if self.prompt_colours < 0:
            raise ValueError(f"LMConfig.prompt_colours must be >= 0 (0 = off), got {self.prompt_colours}")
        if self.colour_blind and not self.prompt_colours:
            raise ValueError("LMConfig.colour_blind hides the colour words from the decoder so that the colour term "
                             "alone reads them: it needs prompt_colours > 0")
        if self.colour_free and not 0 < self.prompt_colours < self.code_factors:
            raise ValueError("LMConfig.colour_free takes the colour classes (the first prompt_colours code factors) "
                             "out of the decoder: it needs 0 < prompt_colours < code_factors, got "
                             f"prompt_colours={self.prompt_colours}, code_factors={self.code_factors}")
        if self.colour_slots and not self.colour_free:
            raise ValueError("LMConfig.colour_slots lets a colour-free decoder name a colour through the colour term: "
                             "it needs colour_free=True")
        if self.num_mlp_blocks < 0:
            raise ValueError(f"LMConfig.num_mlp_blocks must be >= 0, got {self.num_mlp_blocks}")
        object.__setattr__(self, "grid_windows", _check_grid_windows(self))
        if self.grid_own_decoder and not self.grid_windows:
            raise ValueError("LMConfig.grid_own_decoder gives each grid_windows entry its own decoder: it needs "
                             "grid_windows")
        object.__setattr__(self, "grid_shared_decoder", _check_grid_shared_decoder(self))

    # -- grids served with their own window -----------------------------------------------------
    def window_for(self, grid: tuple[int, int]) -> int:
        """The window s of a code grid (h, w): its ``grid_windows`` entry, else ``shuffle_window``."""
        for h, w, s in self.grid_windows:
            if (h, w) == tuple(grid):
                return s
        return self.shuffle_window

    def named_grid(self, grid: tuple[int, int]) -> tuple[int, int]:
        """The grid the prefix names for code grid (h, w): (h, w) itself, or for a ``grid_windows`` entry
        the grid whose windows at ``shuffle_window`` lie as its own do (64x64 at s=4 on an s=2 model: 32x32)."""
        s = self.window_for(grid)
        return grid[0] // s * self.shuffle_window, grid[1] // s * self.shuffle_window

    def decoder_grid(self, grid: tuple[int, int]) -> tuple[int, int] | None:
        """The grid whose own decoder draws code grid (h, w): None for the base's (no ``grid_own_decoder`` or
        not a ``grid_windows`` entry), the ``grid_shared_decoder`` owner, else (h, w) itself."""
        grid = (int(grid[0]), int(grid[1]))
        if not self.grid_own_decoder or grid not in [e[:2] for e in self.grid_windows]:
            return None
        for h, w, oh, ow in self.grid_shared_decoder:
            if (h, w) == grid:
                return oh, ow
        return grid

    # -- derived sizes -------------------------------------------------------------------------
    @property
    def kv_heads(self) -> int:
        return self.num_kv_heads or self.num_heads

    @property
    def hidden(self) -> int:
        if self.ffn_hidden:
            return self.ffn_hidden
        h = int(2 * 4 * self.dim / 3)
        return self.multiple_of * ((h + self.multiple_of - 1) // self.multiple_of)

    @property
    def pad_id(self) -> int:
        return self.text_vocab_size

    @property
    def bos_id(self) -> int:
        return self.text_vocab_size + 1

    @property
    def soi_id(self) -> int:
        return self.text_vocab_size + 2

    @property
    def eoi_id(self) -> int:
        return self.text_vocab_size + 3

    def grid_token(self, n: int) -> int:
        if not 1 <= n <= self.max_grid_size:
            raise ValueError(f"grid side {n} must be in [1, {self.max_grid_size}] (LMConfig.max_grid_size)")
        return self.text_vocab_size + NUM_SPECIAL + n - 1

    @property
    def max_prefix_len(self) -> int:
        """Longest token prefix: [BOS] text [SOI] <h> <w> with the text cut at max_text_len."""
        return self.max_text_len + 4

    @property
    def image_offset(self) -> int:
        return self.text_vocab_size + NUM_SPECIAL + self.max_grid_size

    @property
    def vocab_size(self) -> int:
        return self.image_offset + self.image_vocab_size

    def decoder_config(self) -> DecoderConfig:
        return DecoderConfig(
            dim=self.dim, num_layers=self.num_layers, num_heads=self.num_heads, num_kv_heads=self.kv_heads,
            ffn_hidden=self.hidden, max_seq_len=self.max_seq_len, norm_eps=self.norm_eps,
            rope_theta=self.rope_theta, qk_norm=self.qk_norm, rope_scaling=self.rope_scaling,
        )

    # -- presets and serialisation -------------------------------------------------------------
    @classmethod
    def preset(cls, name: str, **overrides) -> LMConfig:
        if name not in PRESETS:
            raise ValueError(f"unknown LM preset {name!r}; valid: {', '.join(PRESETS)}")
        return dataclasses.replace(PRESETS[name], **overrides)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> LMConfig:
        check_fields(cls, d, what="LMConfig")
        return cls(**d)


def _check_grid_windows(c: LMConfig) -> tuple[tuple[int, int, int], ...]:
    out = []
    for entry in c.grid_windows:
        if not isinstance(entry, (tuple, list)) or len(entry) != 3 or not all(isinstance(v, int) for v in entry):
            raise ValueError(f"LMConfig.grid_windows entries must be (h, w, s) ints, got {entry!r}")
        h, w, s = entry
        if s <= c.shuffle_window or h % s or w % s or c.dim % (s * s):
            raise ValueError(f"LMConfig.grid_windows entry {tuple(entry)}: s must exceed shuffle_window="
                             f"{c.shuffle_window}, divide h and w, and s*s must divide dim={c.dim}")
        if max(h, w) > 8192 or max(h, w) // s * c.shuffle_window > c.max_grid_size:
            raise ValueError(f"LMConfig.grid_windows entry {tuple(entry)}: its named grid "
                             f"{h // s * c.shuffle_window}x{w // s * c.shuffle_window} exceeds max_grid_size="
                             f"{c.max_grid_size}")
        if (h, w) in [e[:2] for e in out]:
            raise ValueError(f"LMConfig.grid_windows names the grid {h}x{w} twice")
        out.append((h, w, s))
    return tuple(out)


def _check_grid_shared_decoder(c: LMConfig) -> tuple[tuple[int, int, int, int], ...]:
    grids, out = [e[:2] for e in c.grid_windows], []
    for entry in c.grid_shared_decoder:
        if not isinstance(entry, (tuple, list)) or len(entry) != 4 or not all(isinstance(v, int) for v in entry):
            raise ValueError(f"LMConfig.grid_shared_decoder entries must be (h, w, H, W) ints, got {entry!r}")
        h, w, oh, ow = entry
        if not c.grid_own_decoder or (h, w) not in grids or (oh, ow) not in grids or (h, w) == (oh, ow):
            raise ValueError(f"LMConfig.grid_shared_decoder entry {tuple(entry)}: grid {h}x{w} draws with grid "
                             f"{oh}x{ow}'s own decoder, so grid_own_decoder must be on and both must be other "
                             f"grid_windows grids ({', '.join(f'{a}x{b}' for a, b in grids) or 'none'})")
        out.append((h, w, oh, ow))
    sharers = [e[:2] for e in out]
    if len(set(sharers)) != len(sharers) or any(e[2:] in sharers for e in out):
        raise ValueError(f"LMConfig.grid_shared_decoder {out}: a grid is listed twice, or an owner itself shares "
                         f"another's decoder")
    return tuple(out)


ROPE_SCALING_KEYS = ("factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings")


def _check_rope_scaling(scaling: dict) -> dict:
    if not isinstance(scaling, dict) or scaling.get("rope_type") != "llama3":
        raise ValueError(f"LMConfig.rope_scaling must be None or a dict with rope_type 'llama3', got {scaling!r}")
    missing = [k for k in ROPE_SCALING_KEYS if k not in scaling]
    if missing:
        raise ValueError(f"LMConfig.rope_scaling lacks {', '.join(missing)}")
    out = {"rope_type": "llama3", **{k: float(scaling[k]) for k in ROPE_SCALING_KEYS[:3]}}
    out["original_max_position_embeddings"] = int(scaling["original_max_position_embeddings"])
    if out["factor"] < 1 or not 0 < out["low_freq_factor"] < out["high_freq_factor"]:
        raise ValueError(f"LMConfig.rope_scaling needs factor >= 1 and 0 < low_freq_factor < high_freq_factor, "
                         f"got {scaling!r}")
    return out


PRESETS: dict[str, LMConfig] = {
    # LlamaGen's GPT-B / GPT-L / GPT-XL decoder sizes (Sun et al., 2024, Table 1).
    "gpt-b": LMConfig(dim=768, num_layers=12, num_heads=12),
    "gpt-l": LMConfig(dim=1024, num_layers=24, num_heads=16),
    "gpt-xl": LMConfig(dim=1280, num_layers=36, num_heads=20),
    "tiny": LMConfig(dim=64, num_layers=2, num_heads=4, num_kv_heads=2, multiple_of=32, max_seq_len=512,
                     image_vocab_size=64, max_grid_size=32, max_text_len=32),
}
