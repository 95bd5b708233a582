"""Code shards: images pre-tokenised once by a VQ tokenizer, so LM training never decodes images.

Layout of a shard folder (version 2; written by ``data.encode``)::

    index.json                       format, tokenizer config, input layout, buckets, shards, skip counts
    codes-00000-256x256.npy          (N, h, w) uint16 (int32 when the codebook has more than 65536 codes)
    captions-00000-256x256.jsonl     one line per row: {"file", "caption", "captions", "metadata"}

Shard ``k`` holds input unit ``k`` (a chunk of records, or one tar file), one codes/captions pair per
size bucket (``WIDTHxHEIGHT``) present in it. Rows are numbered shard by shard, bucket by bucket.
Version 1 folders (one size, ``codes-00000.npy``) are still read. Every file is written to a temporary
name and renamed; index.json last, after each shard.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from tokenshuffle.serialization import atomic_write

FORMAT = "tokenshuffle-codes"
VERSION = 2
INDEX_NAME = "index.json"


def save_npy(path, array: np.ndarray) -> None:
    with open(path, "wb") as f:  # a file object: np.save would append ".npy" to a temporary name
        np.save(f, array)


def code_dtype(codebook_size: int) -> np.dtype:
    return np.dtype(np.uint16) if codebook_size <= 65536 else np.dtype(np.int32)


def write_index(out: Path, index: dict) -> None:
    atomic_write(out / INDEX_NAME, lambda p: Path(p).write_text(json.dumps(index, indent=2) + "\n", "utf-8"))


def read_index(root: Path) -> dict:
    index = json.loads((root / INDEX_NAME).read_text())
    if index.get("format") != FORMAT:
        raise ValueError(f"{root / INDEX_NAME} is not a {FORMAT} index")
    return index


def shard_parts(index: dict) -> list[dict]:
    """Every (codes, captions, grid) part in row order; a version-1 shard is one part of the single grid."""
    parts = []
    for shard in index["shards"]:
        if "parts" in shard:
            parts += shard["parts"]
        else:
            parts.append({"codes": shard["codes"], "captions": shard["captions"], "num": shard["num"],
                          "grid": index["grid"]})
    return parts


def encode_folder(vq, data, out, *, size: int | None = None, batch_size: int = 32, shard_size: int = 1000,
                  device=None, precision: str = "fp32", progress: bool = True) -> dict:
    """``data.encode.encode_dataset`` with one square ``size`` (None: every image's own size)."""
    from tokenshuffle.data.encode import EncodeConfig, encode_dataset

    config = EncodeConfig(buckets=((size, size),) if size else None, batch_size=batch_size, shard_size=shard_size,
                          precision=precision)
    return encode_dataset(vq, data, out, config=config, device=device, progress=progress)


class CodeShards(Dataset):
    """Map-style dataset over a shard folder: ``{"codes": LongTensor (h, w), "caption": str,
    "captions": list[str], "metadata": dict}``. Codes are memory-mapped, never read whole.
    ``buckets`` maps each grid (h, w) to the row numbers that have it."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        if not (self.root / INDEX_NAME).is_file():
            raise FileNotFoundError(f"{self.root}: no {INDEX_NAME} (expected shards written by `tokenshuffle encode`)")
        self.index = read_index(self.root)
        if not self.index["complete"]:
            raise ValueError(f"{self.root}: encoding is incomplete; rerun `tokenshuffle encode` to finish it")
        parts = shard_parts(self.index)
        self.arrays = [np.load(self.root / p["codes"], mmap_mode="r") for p in parts]
        self.lines: list[str] = []
        for p in parts:
            self.lines += (self.root / p["captions"]).read_text(encoding="utf-8").splitlines()
        self.offsets = np.cumsum([0] + [a.shape[0] for a in self.arrays])
        if self.offsets[-1] != len(self.lines):
            raise ValueError(f"{self.root}: {self.offsets[-1]} code rows but {len(self.lines)} caption lines")
        rows: dict[tuple[int, int], list[np.ndarray]] = {}
        for a, start in zip(self.arrays, self.offsets, strict=False):
            rows.setdefault(tuple(a.shape[1:]), []).append(np.arange(start, start + a.shape[0]))
        self.buckets = {g: np.concatenate(r) for g, r in sorted(rows.items())}

    @property
    def grid(self) -> tuple[int, int]:
        if len(self.buckets) > 1:
            raise ValueError(f"{self.root} holds {len(self.buckets)} grids {sorted(self.buckets)}, not one")
        return tuple(self.index["grid"])

    @property
    def codebook_size(self) -> int:
        return int(self.index["vq"]["codebook_size"])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, i: int) -> dict:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} items")
        i %= len(self)
        shard = int(np.searchsorted(self.offsets, i, side="right")) - 1
        row = np.asarray(self.arrays[shard][i - self.offsets[shard]], dtype=np.int64)  # (h, w)
        line = json.loads(self.lines[i])
        return {
            "codes": torch.from_numpy(row),
            "caption": line["caption"],
            "captions": line["captions"],
            "metadata": line["metadata"],
        }
