"""Image batches for VQ training: synthetic scenes rendered on the fly, or an image-caption folder.

Batches are (B, 3, S, S) floats in [-1, 1], randomly cropped to ``crop_size`` and flipped. All
randomness flows from one seed, so a resumed run restarts the stream from ``(seed, step)``.
"""

from __future__ import annotations

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


def _folder_images(root: str, size: int, seed: int) -> Iterator[torch.Tensor]:
    from tokenshuffle.data.folder import ImageCaptionFolder

    ds = ImageCaptionFolder(root, size=size)
    if len(ds) == 0:
        raise ValueError(f"data folder {root} holds no images")
    g = torch.Generator().manual_seed(seed)
    while True:
        for i in torch.randperm(len(ds), generator=g).tolist():
            yield _as_chw_uint8(ds[i]["image"])


def training_batches(
    data: str, *, image_sizes: tuple[int, ...], crop_size: int, batch_size: int, seed: int
) -> Iterator[torch.Tensor]:
    """Endless (B, 3, S, S) float batches. Each batch draws its source size from ``image_sizes``."""
    g = torch.Generator().manual_seed(seed)
    streams = {}
    for i, size in enumerate(sorted(set(image_sizes))):
        sub_seed = seed * 1009 + i
        streams[size] = _scene_images(size, sub_seed) if data == "scenes" else _folder_images(data, size, sub_seed)
    while True:
        size = image_sizes[int(torch.randint(len(image_sizes), (1,), generator=g))]
        images = torch.stack([next(streams[size]) for _ in range(batch_size)])  # (B, 3, H, W) uint8
        yield to_float(_crop_flip(images, crop=crop_size, generator=g))
