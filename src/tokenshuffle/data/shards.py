"""WebDataset-style tar shards: ``KEY.{jpg,jpeg,png,webp}`` + ``KEY.{txt,json}`` members, streamed.

This is the layout of the large public image-text sets (LAION, CC12M, DataComp as webdataset): files
that share a key (the member name up to its first dot) form one sample. The caption is ``KEY.txt``,
or the ``caption``/``text`` field of ``KEY.json`` (whose other fields become ``metadata``). Shards are
named by path, folder, glob or brace range (``shards/{000000..000099}.tar``) and split across
torch.distributed ranks x DataLoader workers by file, so each shard is read once per epoch. Bad images,
samples without an image or caption, and unreadable shards are skipped and counted by reason.

The reader is this file's own (tarfile from the standard library) rather than the ``webdataset``
package: it needs no extra dependency on a machine without network, it counts every skipped member
by reason (webdataset's handlers only log or re-raise), and a tar file is the natural unit of work
that ``encode --workers`` hands out and resumes by.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from tokenshuffle.data.images import BadImage, decode_rgb, fit, to_tensor
from tokenshuffle.data.sources import RawItem, _tar_files

_IMAGE_EXTS = ("jpg", "jpeg", "png", "webp")
_TEXT_EXTS = ("txt", "json")


def _groups(path: str, skipped: Counter) -> Iterator[tuple[str, dict[str, bytes]]]:
    """(key, {extension: bytes}) per sample, in member order; a broken shard ends early, counted once."""
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
                    yield current, group
                    group = {}
                current = key
                group[ext.lower()] = archive.extractfile(member).read()
    except (tarfile.TarError, OSError, EOFError):
        skipped["bad_shard"] += 1
    if group:
        yield current, group


def _caption(group: dict[str, bytes], text_ext: str) -> tuple[str | None, dict]:
    if text_ext == "json":
        try:
            metadata = json.loads(group["json"].decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None, {}
        if not isinstance(metadata, dict):
            return None, {}
        return metadata.pop("caption", None) or metadata.pop("text", None), metadata
    return group["txt"].decode("utf-8", errors="replace").strip(), {}


def tar_items(path: str, *, skipped: Counter, need_caption: bool = True) -> Iterator[RawItem]:
    """The samples of one shard as ``RawItem``s (image bytes not yet decoded)."""
    shard = Path(path).name
    for key, group in _groups(path, skipped):
        image_ext = next((e for e in _IMAGE_EXTS if e in group), None)
        text_ext = next((e for e in _TEXT_EXTS if e in group), None)
        if image_ext is None:
            skipped["no_image"] += 1
            continue
        caption, metadata = _caption(group, text_ext) if text_ext else (None, {})
        if need_caption and not caption:
            skipped["no_caption" if text_ext is None else "bad_caption"] += 1
            continue
        captions = metadata.pop("captions", None) or ([caption] if caption else [])
        yield RawItem(key=f"{shard}/{key}", data=group[image_ext], caption=caption, captions=list(captions),
                      metadata=metadata)


class TarShardDataset(torch.utils.data.IterableDataset):
    """Stream ``{"image": uint8 (3, H, W), "caption", "metadata"}`` from tar shards (paths, globs, brace
    ranges or a folder). ``shuffle_shards`` reorders shard files per epoch with ``seed``; call
    ``set_epoch`` between epochs."""

    def __init__(self, shards, *, size=None, min_side: int = 16, shuffle_shards: bool = False, seed: int = 0):
        super().__init__()
        patterns = [shards] if isinstance(shards, str | Path) else list(shards)
        self.files = [f for p in patterns for f in _tar_files(str(p))]
        if not self.files:
            raise FileNotFoundError(f"no tar shards match {shards!r}")
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

    def __iter__(self):
        for path in self._my_files():
            for item in tar_items(path, skipped=self.num_skipped):
                try:
                    img = decode_rgb(item.data, min_side=self.min_side)
                except BadImage as exc:
                    self.num_skipped[exc.reason] += 1
                    continue
                yield {"image": to_tensor(fit(img, self.size)), "caption": item.caption, "metadata": item.metadata}


def _add_member(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


class TarShardWriter:
    """Write samples as ``KEY.<ext>`` + ``KEY.json`` members, ``num_per_shard`` to a tar; each shard is
    written under a temporary name and renamed when complete. Use as a context manager."""

    def __init__(self, out, *, num_per_shard: int = 1000, prefix: str = "shard"):
        self.out, self.num_per_shard, self.prefix = Path(out), num_per_shard, prefix
        self.out.mkdir(parents=True, exist_ok=True)
        self.paths: list[Path] = []
        self.archive: tarfile.TarFile | None = None
        self.count = 0

    def add(self, data: bytes, ext: str, *, caption: str, metadata: dict | None = None) -> None:
        if self.count % self.num_per_shard == 0:
            self._finish()
            self.paths.append(self.out / f"{self.prefix}-{len(self.paths):06d}.tar")
            self.archive = tarfile.open(self.paths[-1].with_suffix(".tar.tmp"), "w")
        key = f"{self.count:09d}"
        _add_member(self.archive, f"{key}.{ext}", data)
        _add_member(self.archive, f"{key}.json", json.dumps({"caption": caption, **(metadata or {})}).encode())
        self.count += 1

    def _finish(self) -> None:
        if self.archive is not None:
            self.archive.close()
            os.replace(self.paths[-1].with_suffix(".tar.tmp"), self.paths[-1])
            self.archive = None

    def __enter__(self) -> TarShardWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._finish()


def write_tar_shards(samples, out, *, num_per_shard: int = 1000, prefix: str = "shard") -> list[Path]:
    """Write ``samples`` (dicts with a PIL ``image``, ``caption``, optional ``metadata``) as tar shards."""
    from tokenshuffle.data.folder import encode_png

    with TarShardWriter(out, num_per_shard=num_per_shard, prefix=prefix) as writer:
        for sample in samples:
            writer.add(encode_png(sample["image"]), "png", caption=sample["caption"], metadata=sample.get("metadata"))
    return writer.paths


_KEEP_FORMATS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}


def _member_bytes(data: bytes | Path) -> tuple[bytes, str] | None:
    """The image's own bytes and extension when the tar reader takes its format, else a PNG re-encode;
    None for a file that is no image."""
    from PIL import Image, UnidentifiedImageError

    from tokenshuffle.data.folder import encode_png

    raw = data if isinstance(data, bytes) else Path(data).read_bytes()
    try:
        with Image.open(io.BytesIO(raw)) as img:
            if img.format in _KEEP_FORMATS:
                return raw, _KEEP_FORMATS[img.format]
            img.load()
            return encode_png(img), "png"
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        return None


def shards_from_dataset(data, out, *, num_per_shard: int = 1000, prefix: str = "shard") -> dict:
    """Copy any ``data.sources`` layout into WebDataset tar shards (``KEY.<ext>`` + ``KEY.json`` with the
    caption, the other phrasings and the metadata). Images keep their bytes (PNG, JPEG, WebP); items
    without a caption or image are counted, not written. Returns {"shards", "num_items", "skipped"}."""
    from tokenshuffle.data.sources import iter_unit, open_source
    from tokenshuffle.errors import check_range

    check_range("num_per_shard", num_per_shard, low=1)
    source = open_source(data)
    skipped: Counter = Counter()
    with TarShardWriter(out, num_per_shard=num_per_shard, prefix=prefix) as writer:
        for unit in source.units(1024):
            for item in iter_unit(unit, skipped=skipped):
                member = _member_bytes(item.data)
                if member is None:
                    skipped["corrupt"] += 1
                    continue
                others = [c for c in item.captions if c != item.caption]
                metadata = {**item.metadata, **({"captions": [item.caption, *others]} if others else {})}
                writer.add(member[0], member[1], caption=item.caption, metadata=metadata)
    if writer.count == 0:
        raise ValueError(f"--data {data}: no usable image (skipped: {dict(skipped)})")
    return {"shards": [str(p) for p in writer.paths], "num_items": writer.count, "skipped": dict(skipped)}
