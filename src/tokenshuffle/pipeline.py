"""TextToImagePipeline: prompt -> text ids -> Token-Shuffle LM codes -> VQ decode -> PIL images.

A pipeline folder holds ``vq/`` and ``lm/`` (each config.json + model.safetensors),
``text_tokenizer.json`` and ``pipeline.json``: the model's default image size, its own
``SamplingConfig`` and, optionally, settings that differ at other sizes
(``{"height": 512, "width": 512, "sampling": {...}, "sizes": {"1024x1024": {"temperature": 1.0}}}``:
a size, WxH in pixels, -> the SamplingConfig fields it changes).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from tokenshuffle.devices import default_dtype, resolve_device
from tokenshuffle.errors import check_range
from tokenshuffle.model.io import load_lm, save_lm
from tokenshuffle.model.lm import TokenShuffleLM
from tokenshuffle.sampling.config import SamplingConfig
from tokenshuffle.sampling.generate import generate, too_long_message
from tokenshuffle.serialization import atomic_write
from tokenshuffle.text import ByteTokenizer, load_text_tokenizer, save_text_tokenizer
from tokenshuffle.vq.autoencoder import VQTokenizer
from tokenshuffle.vq.data import to_uint8

DEFAULT_SIZE = 512  # pixels, each side, for a pipeline whose pipeline.json names none
FOLDER_ENTRIES = ("vq", "lm", "text_tokenizer.json", "pipeline.json")  # what save_pretrained writes
SETTINGS_KEYS = ("height", "width", "sampling", "sizes")
SIZE_PATTERN = re.compile(r"^([0-9]{1,5})x([0-9]{1,5})$")  # "WxH" in pixels


def to_pil(images: torch.Tensor) -> list[Image.Image]:
    """(B, 3, H, W) in [-1, 1] -> list of RGB PIL images."""
    arr = to_uint8(images)  # (B, 3, H, W)
    return [Image.fromarray(np.ascontiguousarray(a.permute(1, 2, 0).cpu().numpy())) for a in arr]


def read_settings(path: Path) -> dict:
    """pipeline.json -> {"height", "width", "sampling": SamplingConfig}; ValueError naming the file if malformed."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object with keys {', '.join(SETTINGS_KEYS)}, "
                         f"got a {type(data).__name__}")
    unknown = sorted(set(data) - set(SETTINGS_KEYS))
    if unknown:
        raise ValueError(f"{path}: unknown keys {unknown}; valid: {', '.join(SETTINGS_KEYS)}")
    for key in ("height", "width"):
        if key in data:
            _check_pixels(f"{path}: {key}", data[key])
    sampling = SamplingConfig.from_dict(data.get("sampling", {}), what=f"{path}: sampling")
    sizes = data.get("sizes", {})
    if not isinstance(sizes, dict):
        raise ValueError(f"{path}: sizes must be a JSON object of \"WxH\": {{sampling fields}}, "
                         f"got a {type(sizes).__name__}")
    return {"height": data.get("height"), "width": data.get("width"), "sampling": sampling,
            "size_sampling": sizes, "what": f"{path}: sizes"}


def parse_size(text: str, *, what: str = "size") -> tuple[int, int]:
    """"WxH" (pixels) -> (height, width); ValueError naming ``what`` otherwise."""
    m = SIZE_PATTERN.match(text) if isinstance(text, str) else None
    if not m:
        raise ValueError(f'{what} must look like "1024x512" (width x height in pixels), got {text!r:.40}')
    return int(m.group(2)), int(m.group(1))


def _check_pixels(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer number of pixels, got {value!r}")


def check_prompts(prompt) -> list[str]:
    """A prompt or a non-empty list of prompts -> list of str; ValueError naming ``prompt`` otherwise."""
    prompts = [prompt] if isinstance(prompt, str) else prompt
    if not isinstance(prompts, (list, tuple)) or not prompts or not all(isinstance(p, str) for p in prompts):
        raise ValueError(f"prompt must be a str or a non-empty list of str, got {prompt!r:.80}")
    return list(prompts)


class TextToImagePipeline:
    def __init__(self, *, vq: VQTokenizer, lm: TokenShuffleLM, text_tokenizer=None,
                 sampling: SamplingConfig | None = None, height: int | None = None, width: int | None = None,
                 size_sampling: dict[str, dict] | None = None, what: str = "size_sampling"):
        """``size_sampling``: {"WxH": {SamplingConfig field: value}}, the settings that differ at that size
        from ``sampling`` (the model's own, used at every other size); ``what`` names it in errors."""
        self.vq, self.lm = vq.eval(), lm.eval()
        self.text_tokenizer = text_tokenizer or ByteTokenizer()
        self.sampling = sampling or SamplingConfig()
        self.height, self.width = height or DEFAULT_SIZE, width or DEFAULT_SIZE
        if lm.config.image_vocab_size != vq.codebook_size:
            raise ValueError(f"LM image_vocab_size={lm.config.image_vocab_size} != VQ codebook_size={vq.codebook_size}")
        if self.text_tokenizer.vocab_size > lm.config.text_vocab_size:
            raise ValueError(f"text tokenizer vocab {self.text_tokenizer.vocab_size} exceeds LM text_vocab_size="
                             f"{lm.config.text_vocab_size}")
        self.grid_for(self.height, self.width)  # the default size must be one this model serves
        self.size_sampling = {}
        for key, changes in (size_sampling or {}).items():
            h, w = parse_size(key, what=f"{what}: a size")
            try:
                self.grid_for(h, w)  # a size the model does not serve is refused by name
                if not isinstance(changes, dict):
                    raise ValueError(f"must be a JSON object of sampling settings, got {changes!r:.40}")
                self.sampling.replace(**changes)  # checked now, applied in sampling_for
            except ValueError as exc:
                raise ValueError(f"{what}: {key}: {exc}") from None
            self.size_sampling[f"{w}x{h}"] = dict(changes)

    @property
    def device(self) -> torch.device:
        return self.lm.output.weight.device

    def to(self, device=None, dtype: torch.dtype | None = None) -> TextToImagePipeline:
        self.lm.to(device=device, dtype=dtype)
        self.vq.to(device=device)
        return self

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, *, device="cpu", dtype: torch.dtype | None = None):
        """Load a pipeline folder onto ``device``; the LM in ``dtype`` (None: ``devices.default_dtype``, bf16
        on CPUs with native bf16 and on GPUs, else fp32); the VQ decoder stays fp32."""
        directory = Path(directory)
        device = resolve_device(device)
        dtype = dtype or default_dtype(device)
        if not directory.is_dir():
            raise FileNotFoundError(f"model folder {directory} does not exist")
        tok_path = directory / "text_tokenizer.json"
        text_tokenizer = load_text_tokenizer(tok_path) if tok_path.is_file() else ByteTokenizer()
        settings_path = directory / "pipeline.json"
        settings = read_settings(settings_path) if settings_path.is_file() else {}
        vq = VQTokenizer.from_pretrained(directory / "vq", device=device)
        lm = load_lm(directory / "lm")
        return cls(vq=vq, lm=lm, text_tokenizer=text_tokenizer, **settings).to(device, dtype)

    def save_pretrained(self, directory: str | os.PathLike, *, dtype: torch.dtype | None = None) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.vq.save_pretrained(directory / "vq", dtype=dtype)
        save_lm(self.lm, directory / "lm", dtype=dtype)
        save_text_tokenizer(self.text_tokenizer, directory / "text_tokenizer.json")
        settings = {"height": self.height, "width": self.width, "sampling": self.sampling.to_dict()}
        if self.size_sampling:
            settings["sizes"] = self.size_sampling
        atomic_write(directory / "pipeline.json", lambda p: Path(p).write_text(json.dumps(settings, indent=2) + "\n"))
        return directory

    def grid_for(self, height: int, width: int) -> tuple[int, int]:
        """Pixels -> code grid (h, w); ValueError naming the size and the valid ones (a multiple of
        downsample*s, within the grid tokens and, after the longest prompt, within max_seq_len)."""
        step, down = self.vq.downsample * self.lm.s, self.vq.downsample
        largest = self.lm.config.max_grid_size * down // step * step
        own = {(h * down, w * down) for h, w, _ in self.lm.config.grid_windows}  # (height, width) pixels
        also = "".join(f", or {w}x{h} (WxH)" for h, w in sorted(own))
        sides = (("height", height), ("width", width))
        is_int = [isinstance(v, int) and not isinstance(v, bool) for _, v in sides]
        listed = all(is_int) and (height, width) in own
        for (name, v), ok in zip(sides, is_int, strict=True):
            if not ok or not listed and (v < step or v % step or v > largest):
                raise ValueError(f"{name}={v!r} is not a size this model serves: a multiple of downsample*s = "
                                 f"{down}*{self.lm.s} = {step} from {step} to {largest}{also}")
        grid = height // down, width // down
        if listed:
            return grid
        cfg = self.lm.config
        if (grid[0] // self.lm.s) * (grid[1] // self.lm.s) + cfg.max_prefix_len > cfg.max_seq_len:
            raise ValueError(too_long_message(self.lm, grid=grid, prefix_len=cfg.max_prefix_len))
        return grid

    def sampling_for(self, height: int | None = None, width: int | None = None) -> SamplingConfig:
        """The model's own sampling at a size (None: its default size): ``sampling`` with the changes
        pipeline.json names for that size."""
        h, w = self.height if height is None else height, self.width if width is None else width
        return self.sampling.replace(**self.size_sampling.get(f"{w}x{h}", {}))

    def resolve(self, *, height: int | None = None, width: int | None = None, sampling: SamplingConfig | None = None,
                **overrides) -> tuple[tuple[int, int], SamplingConfig]:
        """(code grid, sampling config) for a call: None takes the model's default; ``overrides`` are
        SamplingConfig fields applied on top of ``sampling`` (or the model's own at that size). Everything is
        checked here."""
        height, width = self.height if height is None else height, self.width if width is None else width
        grid = self.grid_for(height, width)
        if sampling is not None and not isinstance(sampling, SamplingConfig):
            raise ValueError(f"sampling must be a SamplingConfig, got {type(sampling).__name__}")
        return grid, (sampling or self.sampling_for(height, width)).replace(**overrides)

    def encode_prompts(self, prompts: list[str]) -> list[list[int]]:
        """Token ids of each prompt; a prompt longer than the model reads is refused, never cut."""
        limit = self.lm.config.max_text_len
        texts = [self.text_tokenizer.encode(p) for p in prompts]
        for p, t in zip(prompts, texts, strict=True):
            if len(t) > limit:
                raise ValueError(f"prompt {p[:40]!r}... is {len(t)} tokens; this model reads at most {limit} "
                                 "(LMConfig.max_text_len)")
        return texts

    @torch.no_grad()
    def __call__(self, prompt: str | list[str], *, height: int | None = None, width: int | None = None,
                 sampling: SamplingConfig | None = None, num_images: int = 1, generator: torch.Generator | None = None,
                 compile: bool = False, progress=None, **overrides) -> list[Image.Image]:
        """Images for each prompt (``num_images`` per prompt, prompt-major order). ``sampling`` (default: the
        model's) with SamplingConfig fields as keyword ``overrides``; height/width None: the model's default."""
        prompts = check_prompts(prompt)
        if isinstance(num_images, bool) or not isinstance(num_images, int):
            raise ValueError(f"num_images must be an integer >= 1, got {num_images!r}")
        check_range("num_images", num_images, low=1)
        grid, sampling = self.resolve(height=height, width=width, sampling=sampling, **overrides)
        texts = [t for t in self.encode_prompts(prompts) for _ in range(num_images)]
        codes = generate(self.lm, texts, grid=grid, sampling=sampling, generator=generator, compile=compile,
                         progress=progress)
        return to_pil(self.vq.decode(codes.to(self.device)))
