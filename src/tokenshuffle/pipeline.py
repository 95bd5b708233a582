"""TextToImagePipeline: prompt -> text ids -> Token-Shuffle LM codes -> VQ decode -> PIL images.

A pipeline folder holds ``vq/`` and ``lm/`` (each config.json + model.safetensors),
``text_tokenizer.json`` and ``pipeline.json`` (default height, width and sampling settings).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from tokenshuffle.errors import check_range
from tokenshuffle.model.lm import TokenShuffleLM
from tokenshuffle.sampling.generate import SamplingConfig, generate
from tokenshuffle.serialization import atomic_write, load_lm, save_lm
from tokenshuffle.text import ByteTokenizer, load_text_tokenizer, save_text_tokenizer
from tokenshuffle.vq.autoencoder import VQTokenizer

DEFAULTS = {"height": 512, "width": 512, "guidance_scale": 7.5, "cfg_schedule": "half-linear",
            "temperature": 1.0, "top_k": None, "top_p": None, "candidates": 1}
FOLDER_ENTRIES = ("vq", "lm", "text_tokenizer.json", "pipeline.json")  # what save_pretrained writes


def to_pil(images: torch.Tensor) -> list[Image.Image]:
    """(B, 3, H, W) in [-1, 1] -> list of RGB PIL images."""
    arr = ((images.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)  # (B, 3, H, W)
    return [Image.fromarray(np.ascontiguousarray(a.permute(1, 2, 0).cpu().numpy())) for a in arr]


class TextToImagePipeline:
    def __init__(self, *, vq: VQTokenizer, lm: TokenShuffleLM, text_tokenizer=None, defaults: dict | None = None):
        self.vq, self.lm = vq.eval(), lm.eval()
        self.text_tokenizer = text_tokenizer or ByteTokenizer()
        self.defaults = {**DEFAULTS, **(defaults or {})}
        if lm.config.image_vocab_size != vq.codebook_size:
            raise ValueError(f"LM image_vocab_size={lm.config.image_vocab_size} != VQ codebook_size={vq.codebook_size}")
        if self.text_tokenizer.vocab_size > lm.config.text_vocab_size:
            raise ValueError(f"text tokenizer vocab {self.text_tokenizer.vocab_size} exceeds LM text_vocab_size="
                             f"{lm.config.text_vocab_size}")

    @property
    def device(self) -> torch.device:
        return self.lm.output.weight.device

    def to(self, device=None, dtype: torch.dtype | None = None) -> TextToImagePipeline:
        self.lm.to(device=device, dtype=dtype)
        self.vq.to(device=device)
        return self

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, *, device="cpu", dtype=torch.float32):
        directory = Path(directory)
        if not directory.is_dir():
            raise FileNotFoundError(f"model folder {directory} does not exist")
        tok_path = directory / "text_tokenizer.json"
        text_tokenizer = load_text_tokenizer(tok_path) if tok_path.is_file() else ByteTokenizer()
        defaults_path = directory / "pipeline.json"
        defaults = json.loads(defaults_path.read_text()) if defaults_path.is_file() else {}
        vq = VQTokenizer.from_pretrained(directory / "vq", device=device)
        lm = load_lm(directory / "lm")
        return cls(vq=vq, lm=lm, text_tokenizer=text_tokenizer, defaults=defaults).to(device, dtype)

    def save_pretrained(self, directory: str | os.PathLike, *, dtype: torch.dtype | None = None) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.vq.save_pretrained(directory / "vq", dtype=dtype)
        save_lm(self.lm, directory / "lm", dtype=dtype)
        save_text_tokenizer(self.text_tokenizer, directory / "text_tokenizer.json")
        atomic_write(directory / "pipeline.json", lambda p: Path(p).write_text(json.dumps(self.defaults, indent=2)))
        return directory

    def grid_for(self, height: int, width: int) -> tuple[int, int]:
        step = self.vq.downsample * self.lm.s
        for name, v in (("height", height), ("width", width)):
            if v < step or v % step:
                raise ValueError(f"{name}={v} must be a positive multiple of downsample*s = "
                                 f"{self.vq.downsample}*{self.lm.s} = {step}")
        return height // self.vq.downsample, width // self.vq.downsample

    def settings(self, *, height=None, width=None, guidance_scale=None, cfg_schedule=None, temperature=None,
                 top_k=None, top_p=None, candidates=None) -> tuple[tuple[int, int], SamplingConfig]:
        """Check the arguments (None: the pipeline's default; top_k=0: off) -> (code grid, sampling config)."""
        d = self.defaults
        pick = lambda v, k: d[k] if v is None else v  # noqa: E731
        grid = self.grid_for(pick(height, "height"), pick(width, "width"))
        sampling = SamplingConfig(guidance_scale=pick(guidance_scale, "guidance_scale"),
                                  cfg_schedule=pick(cfg_schedule, "cfg_schedule"),
                                  temperature=pick(temperature, "temperature"),
                                  top_k=pick(top_k, "top_k") or None, top_p=pick(top_p, "top_p"),
                                  candidates=pick(candidates, "candidates"))
        return grid, sampling

    @torch.no_grad()
    def __call__(self, prompt: str | list[str], *, height: int | None = None, width: int | None = None,
                 guidance_scale: float | None = None, cfg_schedule: str | None = None,
                 temperature: float | None = None, top_k: int | None = None, top_p: float | None = None,
                 candidates: int | None = None, num_images: int = 1, generator: torch.Generator | None = None,
                 compile: bool = False, progress=None) -> list[Image.Image]:
        """Images for each prompt (``num_images`` per prompt, prompt-major order); None: the model's default.

        ``candidates`` n > 1 draws n grids for every image and keeps the likeliest (``sampling.rerank``).
        """
        prompts = [prompt] if isinstance(prompt, str) else list(prompt)
        check_range("num_images", num_images, low=1)
        grid, sampling = self.settings(height=height, width=width, guidance_scale=guidance_scale,
                                       cfg_schedule=cfg_schedule, temperature=temperature, top_k=top_k, top_p=top_p,
                                       candidates=candidates)
        texts = [self.text_tokenizer.encode(p) for p in prompts for _ in range(num_images)]
        codes = generate(self.lm, texts, grid=grid, sampling=sampling, generator=generator, compile=compile,
                         progress=progress)
        return to_pil(self.vq.decode(codes.to(self.device)))
