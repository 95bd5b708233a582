"""Size buckets: each image goes to the listed size nearest its aspect ratio, then is cropped or resized to it.

Sizes are written ``WIDTHxHEIGHT`` (as image viewers and PIL write them; a bare number is a square):
``--buckets 512,768x384,384x768,1024``. Internally a bucket is ``(height, width)``, the tensor order.
The nearest bucket is the one whose aspect ratio is closest in log scale (so 2:1 and 1:2 are as far
from 1:1); among buckets of the same aspect ratio, the one whose pixel count is closest, again in log
scale. ``fit`` "crop" scales the image to cover the bucket and centre-crops (no distortion, edges
lost); "resize" stretches it to the bucket (nothing lost, shapes distorted by the aspect mismatch).
"""

from __future__ import annotations

import math

from PIL import Image

from tokenshuffle.data.images import fit
from tokenshuffle.errors import check_choice

FITS = ("crop", "resize")


def parse_size(text: str) -> tuple[int, int]:
    """"768x384" -> (384, 768) as (height, width); "512" -> (512, 512)."""
    parts = text.strip().lower().split("x")
    try:
        nums = [int(p) for p in parts]
    except ValueError:
        nums = []
    if len(nums) not in (1, 2) or min(nums) < 1:
        raise ValueError(f"--buckets: {text!r} is not a size; write WIDTHxHEIGHT (e.g. 768x384) or one side (512)")
    width, height = (nums[0], nums[0]) if len(nums) == 1 else nums
    return height, width


def parse_buckets(spec: str | None, *, size: int | None = None) -> tuple[tuple[int, int], ...] | None:
    """The bucket list from ``--buckets`` ("512,768x384") or a square ``--size``; None = native sizes."""
    if spec and size:
        raise ValueError("--size and --buckets both given; --size N is the same as --buckets N")
    if size:
        return ((size, size),)
    if not spec:
        return None
    buckets = tuple(dict.fromkeys(parse_size(s) for s in spec.split(",") if s.strip()))
    if not buckets:
        raise ValueError(f"--buckets {spec!r} lists no size")
    return buckets


def check_multiple(buckets, factor: int) -> None:
    for height, width in buckets or ():
        if height % factor or width % factor:
            raise ValueError(f"--buckets/--size: {width}x{height} is not a multiple of the tokenizer's downsample "
                             f"factor {factor} in both sides")


def bucket_name(height: int, width: int) -> str:
    return f"{width}x{height}"


def nearest_bucket(width: int, height: int, buckets) -> tuple[int, int]:
    """The (height, width) bucket for a ``width`` x ``height`` image (see the module docstring)."""
    aspect, area = math.log(width / height), math.log(width * height)

    def distance(b: tuple[int, int]) -> tuple[float, float]:
        return round(abs(aspect - math.log(b[1] / b[0])), 9), abs(area - math.log(b[0] * b[1]))

    return min(buckets, key=distance)


def fit_to_bucket(img: Image.Image, buckets, *, mode: str = "crop") -> Image.Image:
    """``img`` brought to its nearest bucket; unchanged when ``buckets`` is None (native size)."""
    check_choice("fit", mode, FITS)
    if buckets is None:
        return img
    height, width = nearest_bucket(img.width, img.height, buckets)
    if mode == "resize":
        if img.size == (width, height):
            return img
        small = width * height < img.width * img.height
        return img.resize((width, height), Image.LANCZOS if small else Image.BICUBIC)
    return fit(img, (height, width))
