"""Code shards: images pre-tokenised once by a VQ tokenizer, so LM training never decodes images.

Layout of a shard folder::

    index.json                 format, grid (h, w), image size, dtype, the tokenizer's config, shards
    codes-00000.npy            (N, h, w) uint16 (int32 when the codebook has more than 65536 codes)
    captions-00000.jsonl       one line per row: {"file", "caption", "captions", "metadata"}

Shard ``k`` holds source records ``[k * shard_size, (k + 1) * shard_size)``, minus unreadable
images, so an interrupted ``encode`` resumes by skipping the shards already listed in index.json.
Every file is written to a temporary name and renamed; index.json last, after each shard.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from tokenshuffle.errors import check_range
from tokenshuffle.serialization import atomic_write

FORMAT = "tokenshuffle-codes"
VERSION = 1
INDEX_NAME = "index.json"


def _save_npy(path, array: np.ndarray) -> None:
    with open(path, "wb") as f:  # a file object: np.save would append ".npy" to a temporary name
        np.save(f, array)


def code_dtype(codebook_size: int) -> np.dtype:
    return np.dtype(np.uint16) if codebook_size <= 65536 else np.dtype(np.int32)


def _load_image(root: Path, record: dict, size):
    from tokenshuffle.data.images import BadImage, decode_rgb, fit, to_tensor

    try:
        return to_tensor(fit(decode_rgb(root / record["file"]), size))  # (3, H, W) uint8
    except (BadImage, FileNotFoundError):
        return None


@torch.no_grad()
def encode_folder(
    vq,
    data,
    out,
    *,
    size: int | None = None,
    batch_size: int = 32,
    shard_size: int = 2048,
    device: str | torch.device | None = None,
    precision: str = "fp32",
    progress: bool = True,
) -> dict:
    """Encode the image-caption folder ``data`` with the tokenizer ``vq`` (folder or VQTokenizer) into
    shards under ``out``. Resumes: shards already in ``out/index.json`` are skipped. Returns the index.

    ``precision`` "bf16" runs the encoder under bf16 autocast in channels-last layout (the quantizer's
    nearest-code search stays fp32): ~2x faster on CPUs with AMX, and a few percent of codes land on
    a neighbouring code. It is recorded in the index, and a resumed encode must use the same."""
    from tokenshuffle.errors import check_choice

    check_choice("precision", precision, ("fp32", "bf16"))
    from tokenshuffle.data.folder import CAPTIONS_FILE, read_records
    from tokenshuffle.vq.autoencoder import VQTokenizer
    from tokenshuffle.vq.data import to_float

    check_range("batch_size", batch_size, low=1)
    check_range("shard_size", shard_size, low=1)
    data, out = Path(data), Path(out)
    if not (data / CAPTIONS_FILE).is_file():
        raise FileNotFoundError(f"--data {data}: no {CAPTIONS_FILE} (expected an image-caption folder)")
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model = vq if isinstance(vq, VQTokenizer) else VQTokenizer.from_pretrained(vq, device=device)
    model = model.to(device).eval()
    bf16 = precision == "bf16"
    if bf16:
        model = model.to(memory_format=torch.channels_last)
    records = read_records(data / CAPTIONS_FILE)
    if not records:
        raise ValueError(f"--data {data}: {CAPTIONS_FILE} lists no images")
    out.mkdir(parents=True, exist_ok=True)
    dtype = code_dtype(model.codebook_size)
    index = {
        "format": FORMAT,
        "version": VERSION,
        "data": str(data),
        "num_records": len(records),
        "shard_size": shard_size,
        "image_size": None,
        "grid": None,
        "dtype": dtype.name,
        "precision": precision,
        "vq": {
            "path": None if isinstance(vq, VQTokenizer) else str(vq),
            "config": model.config.to_dict(),
            "codebook_size": model.codebook_size,
            "downsample": model.downsample,
        },
        "shards": [],
        "num_items": 0,
        "num_skipped": 0,
        "complete": False,
    }
    old = _read_index(out) if (out / INDEX_NAME).is_file() else None
    if old is not None:
        same = (
            all(old.get(k, "fp32" if k == "precision" else None) == index[k]
                for k in ("num_records", "shard_size", "dtype", "precision"))
            and old["vq"]["config"] == index["vq"]["config"]
        )
        if not same:
            raise ValueError(f"--out {out} holds shards from another tokenizer, dataset or precision; use a fresh "
                             "folder")
        index.update({k: old[k] for k in ("shards", "image_size", "grid", "num_items", "num_skipped")})
    done = {s["shard"] for s in index["shards"]}
    num_shards = -(-len(records) // shard_size)
    bar = tqdm(total=len(records), desc="encode", unit="img", disable=not progress)
    bar.update(sum(min(shard_size, len(records) - k * shard_size) for k in done))
    for k in range(num_shards):
        if k in done:
            continue
        chunk = records[k * shard_size : (k + 1) * shard_size]
        codes, lines, skipped = [], [], 0
        for start in range(0, len(chunk), batch_size):
            batch = chunk[start : start + batch_size]
            loaded = [(r, _load_image(data, r, size)) for r in batch]
            good = [(r, img) for r, img in loaded if img is not None]
            skipped += len(batch) - len(good)
            if good:
                images = torch.stack([_check_size(index, img, r) for r, img in good])  # (b, 3, H, W)
                x = to_float(images).to(device)
                if bf16:
                    x = x.contiguous(memory_format=torch.channels_last)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                    codes.append(model.encode(x).cpu().numpy().astype(dtype))
                lines += [_caption_line(r) for r, _ in good]
            bar.update(len(batch))
        _write_shard(out, index, k, codes, lines, skipped)
    bar.close()
    index["complete"] = True
    _write_index(out, index)
    return index


def _check_size(index: dict, image: torch.Tensor, record: dict) -> torch.Tensor:
    size = list(image.shape[1:])
    if index["image_size"] is None:
        index["image_size"] = size
    elif index["image_size"] != size:
        raise ValueError(
            f"{record['file']} is {size[0]}x{size[1]} but earlier images are "
            f"{index['image_size'][0]}x{index['image_size'][1]}; pass --size to resize all to one size"
        )
    return image


def _caption_line(record: dict) -> str:
    caption = record["caption"]
    return json.dumps(
        {
            "file": record["file"],
            "caption": caption,
            "captions": record.get("captions") or [caption],
            "metadata": record.get("metadata") or {},
        }
    )


def _write_shard(out: Path, index: dict, k: int, codes: list, lines: list[str], skipped: int) -> None:
    f = index["vq"]["downsample"]
    if codes:
        array = np.concatenate(codes)  # (n, h, w)
    else:
        h, w = index["grid"] or (0, 0)
        array = np.zeros((0, h, w), dtype=index["dtype"])
    if index["grid"] is None and index["image_size"] is not None:
        index["grid"] = [index["image_size"][0] // f, index["image_size"][1] // f]
    name_codes, name_caps = f"codes-{k:05d}.npy", f"captions-{k:05d}.jsonl"
    atomic_write(out / name_codes, lambda p: _save_npy(p, array))
    atomic_write(out / name_caps, lambda p: Path(p).write_text("".join(line + "\n" for line in lines), "utf-8"))
    index["shards"] = sorted(
        index["shards"] + [{"shard": k, "codes": name_codes, "captions": name_caps, "num": int(array.shape[0])}],
        key=lambda s: s["shard"],
    )
    index["num_items"] += int(array.shape[0])
    index["num_skipped"] += skipped
    _write_index(out, index)


def _write_index(out: Path, index: dict) -> None:
    atomic_write(out / INDEX_NAME, lambda p: Path(p).write_text(json.dumps(index, indent=2) + "\n", "utf-8"))


def _read_index(root: Path) -> dict:
    index = json.loads((root / INDEX_NAME).read_text())
    if index.get("format") != FORMAT:
        raise ValueError(f"{root / INDEX_NAME} is not a {FORMAT} index")
    return index


class CodeShards(Dataset):
    """Map-style dataset over a shard folder: ``{"codes": LongTensor (h, w), "caption": str,
    "captions": list[str], "metadata": dict}``. Codes are memory-mapped, never read whole."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        if not (self.root / INDEX_NAME).is_file():
            raise FileNotFoundError(f"{self.root}: no {INDEX_NAME} (expected shards written by `tokenshuffle encode`)")
        self.index = _read_index(self.root)
        if not self.index["complete"]:
            raise ValueError(f"{self.root}: encoding is incomplete; rerun `tokenshuffle encode` to finish it")
        self.arrays = [np.load(self.root / s["codes"], mmap_mode="r") for s in self.index["shards"]]
        self.lines: list[str] = []
        for s in self.index["shards"]:
            self.lines += (self.root / s["captions"]).read_text(encoding="utf-8").splitlines()
        self.offsets = np.cumsum([0] + [a.shape[0] for a in self.arrays])
        if self.offsets[-1] != len(self.lines):
            raise ValueError(f"{self.root}: {self.offsets[-1]} code rows but {len(self.lines)} caption lines")

    @property
    def grid(self) -> tuple[int, int]:
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
