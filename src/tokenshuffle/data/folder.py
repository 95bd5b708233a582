"""The image-folder format: ``DIR/images/NNNNNN.png`` plus ``DIR/captions.jsonl``, its writer and reader.

Each line of ``captions.jsonl`` is one JSON object::

    {"file": "images/000000.png", "caption": "a photo of a red star", "captions": [...],
     "metadata": {"tag": ..., "include": [...], "prompt": ...}, "source": "scenes", "license": "CC0-1.0"}

``file`` is relative to DIR; ``caption`` is the main caption and ``captions`` all phrasings;
``metadata`` is GenEval-style for synthetic scenes and free-form otherwise. Images are written
atomically one by one and ``captions.jsonl`` last, so an interrupted write leaves no index pointing
at missing files.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

from PIL import Image
from torch.utils.data import Dataset

from tokenshuffle.data.images import BadImage, decode_rgb, fit, to_tensor
from tokenshuffle.serialization import atomic_write

CAPTIONS_FILE = "captions.jsonl"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda p: Path(p).write_bytes(data))


def encode_png(img: Image.Image, *, compress_level: int = 1) -> bytes:
    """PNG bytes; level 1 because writing speed matters more than a few percent of disk here."""
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=compress_level)
    return buf.getvalue()


class FolderWriter:
    """Write images + ``captions.jsonl``; use as a context manager (the index is written on exit)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        (self.root / "images").mkdir(parents=True, exist_ok=True)
        self.records: list[dict] = []

    def add(self, img: Image.Image, *, caption: str, captions=None, metadata=None, **fields) -> str:
        """Write ``img`` as the next PNG and remember its record; returns the file name."""
        return self.add_encoded(encode_png(img), caption=caption, captions=captions, metadata=metadata, **fields)

    def add_encoded(self, png: bytes, *, caption: str, captions=None, metadata=None, **fields) -> str:
        """Like ``add`` for an already PNG-encoded image (from a worker process)."""
        name = f"images/{len(self.records):06d}.png"
        atomic_write_bytes(self.root / name, png)
        record = {"file": name, "caption": caption, "captions": list(captions or [caption])}
        record["metadata"] = metadata if metadata is not None else {}
        record.update(fields)
        self.records.append(record)
        return name

    def close(self) -> None:
        lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in self.records)
        atomic_write_bytes(self.root / CAPTIONS_FILE, lines.encode("utf-8"))

    def __enter__(self) -> FolderWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.close()


def read_records(path: str | Path) -> list[dict]:
    """Parse a JSONL file, naming the line of any bad entry."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    records = []
    for num, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}:{num}: not valid JSON ({exc.msg})") from None
    return records


class ImageCaptionFolder(Dataset):
    """Map-style dataset over the folder format; items are ``{"image", "caption", "metadata"}``.

    ``image`` is a uint8 tensor (3, H, W), resized and centre-cropped to ``size`` (int or (H, W)) when
    given. ``metadata`` is the record's metadata plus ``file``, ``source`` and ``license``. A file that
    cannot be used (corrupt, truncated, smaller than ``min_side``) is skipped: the next usable item is
    returned instead and the reason is counted in ``num_skipped`` (per process: each DataLoader worker
    counts its own). ``verify=True`` decodes everything once up front and drops bad files from the index.
    """

    def __init__(self, root: str | Path, *, size=None, min_side: int = 16, verify: bool = False):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"root is not a folder: {self.root}")
        self.records = read_records(self.root / CAPTIONS_FILE)
        for num, rec in enumerate(self.records, start=1):
            if "file" not in rec or "caption" not in rec:
                raise ValueError(f"{self.root / CAPTIONS_FILE}:{num}: needs 'file' and 'caption' keys")
        self.size = size
        self.min_side = min_side
        self.num_skipped: Counter = Counter()
        if verify:
            self.records = [r for r in self.records if self._load(r) is not None]

    def __len__(self) -> int:
        return len(self.records)

    def _load(self, record: dict) -> Image.Image | None:
        path = self.root / record["file"]
        try:
            if not path.is_file():
                raise BadImage("missing", str(path))
            return decode_rgb(path, min_side=self.min_side)
        except BadImage as exc:
            self.num_skipped[exc.reason] += 1
            return None

    def __getitem__(self, index: int) -> dict:
        if not self.records:
            raise IndexError("empty dataset")
        for offset in range(len(self.records)):
            record = self.records[(index + offset) % len(self.records)]
            img = self._load(record)
            if img is not None:
                break
        else:
            raise RuntimeError(f"no usable image in {self.root} (skipped: {dict(self.num_skipped)})")
        metadata = dict(record.get("metadata") or {})
        metadata.update({k: record[k] for k in ("file", "source", "license") if k in record})
        return {"image": to_tensor(fit(img, self.size)), "caption": record["caption"], "metadata": metadata}
