"""Decoding, checking and resizing images for every dataset reader, with skip reasons that can be counted.

Readers never crash mid-epoch on a bad file: ``decode_rgb`` raises ``BadImage`` with a short reason
("corrupt", "truncated", "tiny") that the reader counts, and converts every other mode (grayscale,
palette, RGBA, CMYK, 16-bit) to RGB, compositing transparency onto white.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from tokenshuffle.errors import check_range

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
DEFAULT_MIN_SIDE = 16


class BadImage(Exception):
    """An image that cannot be used; ``reason`` is one of "corrupt", "truncated", "tiny"."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def decode_rgb(source: str | Path | bytes, *, min_side: int = DEFAULT_MIN_SIDE) -> Image.Image:
    """Open ``source`` (a path or encoded bytes) fully and return it as an RGB image, or raise ``BadImage``."""
    stream = io.BytesIO(source) if isinstance(source, bytes | bytearray) else source
    try:
        with warnings.catch_warnings():
            # PIL warns on odd metadata chunks; the decode below is what decides if an image is usable.
            warnings.simplefilter("ignore")
            img = Image.open(stream)
            img.load()
    except UnidentifiedImageError as exc:
        raise BadImage("corrupt", str(exc)) from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        reason = "truncated" if "truncated" in str(exc).lower() or "broken data" in str(exc) else "corrupt"
        raise BadImage(reason, str(exc)) from None
    if min(img.size) < min_side:
        raise BadImage("tiny", f"{img.size[0]}x{img.size[1]} < {min_side}")
    return to_rgb(img)


def to_rgb(img: Image.Image) -> Image.Image:
    """Any PIL mode -> RGB; transparent pixels become white (the convention of the emoji/clipart sets)."""
    if img.mode == "RGB":
        return img
    if img.mode == "P" and "transparency" in img.info or img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit grayscale: scale to 8 bits instead of clipping everything above 255 to white.
        arr = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if arr.max() > 255 else 255.0
        return Image.fromarray((arr / peak * 255).round().astype(np.uint8), mode="L").convert("RGB")
    return img.convert("RGB")


def fit(img: Image.Image, size: int | tuple[int, int] | None) -> Image.Image:
    """Resize so the image covers ``size`` ((height, width) or a square side) and centre-crop to it."""
    if size is None:
        return img
    height, width = (size, size) if isinstance(size, int) else size
    check_range("size", min(height, width), low=1)
    scale = max(height / img.height, width / img.width)
    new_w, new_h = max(width, round(img.width * scale)), max(height, round(img.height * scale))
    if (new_w, new_h) != img.size:
        img = img.resize((new_w, new_h), Image.LANCZOS if scale < 1 else Image.BICUBIC)
    left, top = (new_w - width) // 2, (new_h - height) // 2
    return img.crop((left, top, left + width, top + height))


def to_tensor(img: Image.Image) -> torch.Tensor:
    """RGB PIL image -> uint8 tensor (3, H, W)."""
    arr = np.asarray(img, dtype=np.uint8)  # (H, W, 3)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()  # (3, H, W)


def collate_samples(batch: list[dict]) -> dict:
    """DataLoader ``collate_fn``: stack images (all the same size) into (B, 3, H, W), keep the rest as lists."""
    return {
        "image": torch.stack([b["image"] for b in batch]),
        "caption": [b["caption"] for b in batch],
        "metadata": [b["metadata"] for b in batch],
    }
