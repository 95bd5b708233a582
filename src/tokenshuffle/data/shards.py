"""WebDataset-style tar shards: ``KEY.{jpg,jpeg,png,webp}`` + ``KEY.{txt,json}`` members, streamed.

This is the layout of the large public image-text sets (LAION, CC12M, DataComp as webdataset): files
that share a key (the member name up to its first dot) form one sample. The caption is ``KEY.txt``,
or the ``caption``/``text`` field of ``KEY.json`` (whose other fields become ``metadata``). Shards are
split across torch.distributed ranks x DataLoader workers by file, so each shard is read once per
epoch. Bad images, samples without an image or caption, and unreadable shards are skipped and
counted in ``num_skipped`` (per process).
"""

from __future__ import annotations

import glob
import io
import json
import os
import tarfile
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from tokenshuffle.data.folder import encode_png
from tokenshuffle.data.images import BadImage, decode_rgb, fit, to_tensor

_IMAGE_EXTS = ("jpg", "jpeg", "png", "webp")
_TEXT_EXTS = ("txt", "json")


def _expand(shards) -> list[str]:
    patterns = [shards] if isinstance(shards, str | Path) else list(shards)
    files: list[str] = []
    for pattern in patterns:
        pattern = str(pattern)
        matches = sorted(glob.glob(pattern)) if any(c in pattern for c in "*?[") else [pattern]
        if Path(pattern).is_dir():
            matches = sorted(str(p) for p in Path(pattern).glob("*.tar"))
        files.extend(matches)
    if not files:
        raise FileNotFoundError(f"no tar shards match {shards!r}")
    return files


class TarShardDataset(torch.utils.data.IterableDataset):
    """Stream ``{"image": uint8 (3, H, W), "caption", "metadata"}`` from tar shards (paths, globs or a folder).

    ``shuffle_shards`` reorders shard files per epoch with ``seed``; call ``set_epoch`` between epochs.
    """

    def __init__(self, shards, *, size=None, min_side: int = 16, shuffle_shards: bool = False, seed: int = 0):
        super().__init__()
        self.files = _expand(shards)
        self.size, self.min_side = size, min_side
        self.shuffle_shards, self.seed, self.epoch = shuffle_shards, seed, 0
        self.num_skipped: Counter = Counter()

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _my_files(self) -> list[str]:
        from tokenshuffle.data.scenes import _shard

        files = list(self.files)
        if self.shuffle_shards:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(len(files))
            files = [files[i] for i in order]
        shard, num_shards = _shard()
        return files[shard::num_shards]

    def _samples(self, path: str):
        group: dict[str, bytes] = {}
        current = None
        try:
            with tarfile.open(path) as archive:
                for member in archive:
                    if not member.isfile():
                        continue
                    name = Path(member.name).name
                    key, _, ext = name.partition(".")
                    key = str(Path(member.name).parent / key)
                    if key != current and group:
                        yield group
                        group = {}
                    current = key
                    group[ext.lower()] = archive.extractfile(member).read()
        except (tarfile.TarError, OSError, EOFError):
            self.num_skipped["bad_shard"] += 1
        if group:
            yield group

    def _decode(self, group: dict[str, bytes]) -> dict | None:
        image_ext = next((e for e in _IMAGE_EXTS if e in group), None)
        text_ext = next((e for e in _TEXT_EXTS if e in group), None)
        if image_ext is None or text_ext is None:
            self.num_skipped["incomplete"] += 1
            return None
        metadata: dict = {}
        if text_ext == "json":
            try:
                metadata = json.loads(group["json"].decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                self.num_skipped["bad_caption"] += 1
                return None
            caption = metadata.pop("caption", None) or metadata.pop("text", None)
        else:
            caption = group["txt"].decode("utf-8", errors="replace").strip()
        if not caption:
            self.num_skipped["bad_caption"] += 1
            return None
        try:
            img = decode_rgb(group[image_ext], min_side=self.min_side)
        except BadImage as exc:
            self.num_skipped[exc.reason] += 1
            return None
        return {"image": to_tensor(fit(img, self.size)), "caption": caption, "metadata": metadata}

    def __iter__(self):
        for path in self._my_files():
            for group in self._samples(path):
                sample = self._decode(group)
                if sample is not None:
                    yield sample


def write_tar_shards(samples, out, *, num_per_shard: int = 1000, prefix: str = "shard") -> list[Path]:
    """Write ``samples`` (dicts with a PIL ``image``, ``caption``, optional ``metadata``) as tar shards.

    Each shard is written to a temporary name and renamed when complete.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    archive = None

    def finish() -> None:
        archive.close()
        os.replace(paths[-1].with_suffix(".tar.tmp"), paths[-1])

    for index, sample in enumerate(samples):
        if index % num_per_shard == 0:
            if archive is not None:
                finish()
            paths.append(out / f"{prefix}-{len(paths):06d}.tar")
            archive = tarfile.open(paths[-1].with_suffix(".tar.tmp"), "w")
        key = f"{index:09d}"
        payload = {"caption": sample["caption"], **(sample.get("metadata") or {})}
        members = ((f"{key}.png", encode_png(sample["image"])), (f"{key}.json", json.dumps(payload).encode()))
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    if archive is not None:
        finish()
    return paths
