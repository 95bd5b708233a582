"""Image batches for VQ training: synthetic scenes rendered on the fly, or a dataset in any input layout
(``data.sources``: captions.jsonl folder, image+txt folder, WebDataset tar shards; captions not needed).

Batches are (B, 3, S, S) floats in [-1, 1], randomly cropped to ``crop_size`` and flipped. All
randomness flows from one seed, so a resumed run restarts the stream from ``(seed, step)``. Unusable
images are skipped and counted by reason in the ``skipped`` Counter the caller passes; a pass over the
whole dataset that finds no usable image is a ValueError.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import numpy as np
import torch


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 (..., 3, H, W) in [0, 255] -> float in [-1, 1]."""
    return images.float() / 127.5 - 1.0


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float in [-1, 1] -> uint8 in [0, 255] (round to nearest)."""
    return ((images.detach().float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)


def _as_chw_uint8(image) -> torch.Tensor:
    if isinstance(image, torch.Tensor):
        return image
    return torch.from_numpy(np.asarray(image.convert("RGB"))).permute(2, 0, 1).contiguous()  # (3, H, W)


def _crop_flip(images: torch.Tensor, *, crop: int, generator: torch.Generator) -> torch.Tensor:
    B, _, H, W = images.shape
    out = []
    for i in range(B):
        img = images[i]
        if crop:
            top = int(torch.randint(H - crop + 1, (1,), generator=generator))
            left = int(torch.randint(W - crop + 1, (1,), generator=generator))
            img = img[:, top : top + crop, left : left + crop]
        if bool(torch.rand((), generator=generator) < 0.5):
            img = img.flip(-1)
        out.append(img)
    return torch.stack(out)


def _scene_images(size: int, seed: int) -> Iterator[torch.Tensor]:
    from tokenshuffle.data.scenes import SceneDataset

    for item in SceneDataset(height=size, width=size, seed=seed):
        yield _as_chw_uint8(item["image"])


_SHUFFLE_BUFFER = 512  # items held to shuffle within a tar shard's stream


def _shuffled(items, *, size: int, generator: np.random.Generator):
    """A buffered shuffle: order within ``size`` neighbours is random, memory stays bounded."""
    buf = []
    for item in items:
        if len(buf) < size:
            buf.append(item)
            continue
        j = int(generator.integers(size))
        yield buf[j]
        buf[j] = item
    for j in generator.permutation(len(buf)):
        yield buf[j]


def _dataset_images(spec: str, size: int, seed: int, skipped: Counter) -> Iterator[torch.Tensor]:
    from tokenshuffle.data.images import BadImage, decode_rgb, fit, to_tensor
    from tokenshuffle.data.sources import iter_unit, open_source

    units = open_source(spec).units(1024)
    rng = np.random.default_rng(seed)
    while True:
        produced = 0
        for u in rng.permutation(len(units)):
            for item in _shuffled(iter_unit(units[u], skipped=skipped, need_caption=False), size=_SHUFFLE_BUFFER,
                                  generator=rng):
                try:
                    img = decode_rgb(item.data)
                except BadImage as exc:
                    skipped[exc.reason] += 1
                    continue
                produced += 1
                yield to_tensor(fit(img, size))  # (3, size, size) uint8
        if not produced:
            reasons = ", ".join(f"{k} {v}" for k, v in sorted(skipped.items())) or "none"
            raise ValueError(f"data={spec}: no usable image (skipped: {reasons})")


def training_batches(
    data: str, *, image_sizes: tuple[int, ...], crop_size: int, batch_size: int, seed: int,
    skipped: Counter | None = None,
) -> Iterator[torch.Tensor]:
    """Endless (B, 3, S, S) float batches. Each batch draws its source size from ``image_sizes``; images a
    dataset could not use are counted in ``skipped`` by reason."""
    skipped = Counter() if skipped is None else skipped
    g = torch.Generator().manual_seed(seed)
    streams = {}
    for i, size in enumerate(sorted(set(image_sizes))):
        sub_seed = seed * 1009 + i
        streams[size] = (_scene_images(size, sub_seed) if data == "scenes"
                         else _dataset_images(data, size, sub_seed, skipped))
    while True:
        size = image_sizes[int(torch.randint(len(image_sizes), (1,), generator=g))]
        images = torch.stack([next(streams[size]) for _ in range(batch_size)])  # (B, 3, H, W) uint8
        yield to_float(_crop_flip(images, crop=crop_size, generator=g))
