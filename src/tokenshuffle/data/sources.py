"""The three input layouts that ``encode``, ``train-vq`` and ``data shards`` read, as numbered work units.

- ``jsonl``: a folder with ``captions.jsonl`` (``data.folder``'s format, what ``data scenes|emoji`` write);
- ``image-txt``: a folder of images, each with a same-name ``.txt`` caption beside it (searched recursively);
- ``tar``: WebDataset tar shards by path, folder, glob or brace range (``shards/{000000..000099}.tar``).

A dataset is cut into *units*: a chunk of ``chunk_size`` records for the folders, one tar file for shards.
Units are plain picklable values, numbered in a fixed order, so a run can hand them to worker processes
and resume by unit number. ``iter_unit`` yields ``RawItem``s (image still encoded) and counts every
item it cannot use by reason in a ``Counter``; image decoding (and its reasons) happens in the caller.
"""

from __future__ import annotations

import glob
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tokenshuffle.data.images import IMAGE_EXTENSIONS

LAYOUTS = ("jsonl", "image-txt", "tar")
_PROVENANCE = ("source", "license", "attribution")
_BRACE = re.compile(r"\{([^{}]*)\}")
_RANGE = re.compile(r"^(\d+)\.\.(\d+)$")


@dataclass(frozen=True)
class Unit:
    """One piece of work: ``entries`` are records (jsonl), relative image paths (image-txt) or a tar path."""

    index: int
    layout: str
    root: str
    entries: tuple


@dataclass
class RawItem:
    key: str  # a name that finds the item again: the file, or "shard.tar/KEY"
    data: bytes | Path  # the encoded image
    caption: str | None
    captions: list[str] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Source:
    spec: str
    layout: str
    root: str
    entries: tuple  # every record / image path / tar path, in order

    def units(self, chunk_size: int) -> list[Unit]:
        if self.layout == "tar":
            return [Unit(i, "tar", self.root, (path,)) for i, path in enumerate(self.entries)]
        chunks = range(0, len(self.entries), chunk_size)
        return [Unit(k, self.layout, self.root, self.entries[s : s + chunk_size]) for k, s in enumerate(chunks)]

    def describe(self) -> dict:
        """What a resumed run must find unchanged."""
        names = [Path(p).name for p in self.entries] if self.layout == "tar" else None
        return {"layout": self.layout, "num_entries": len(self.entries), "tar_files": names}


def expand_braces(pattern: str) -> list[str]:
    """``a/{000..002}.tar`` -> a/000.tar a/001.tar a/002.tar (zero padding kept); ``{x,y}`` lists too."""
    m = _BRACE.search(pattern)
    if m is None:
        return [pattern]
    body, head, tail = m.group(1), pattern[: m.start()], pattern[m.end() :]
    r = _RANGE.match(body)
    if r:
        lo, hi = int(r.group(1)), int(r.group(2))
        width = len(r.group(1)) if r.group(1).startswith("0") else 0
        options = [f"{n:0{width}d}" for n in range(lo, hi + 1)]
    else:
        options = body.split(",")
    return [out for opt in options for out in expand_braces(head + opt + tail)]


def _tar_files(spec: str) -> list[str]:
    files: list[str] = []
    for pattern in expand_braces(spec):
        if Path(pattern).is_dir():
            files += sorted(str(p) for p in Path(pattern).glob("*.tar"))
        elif any(c in pattern for c in "*?["):
            files += sorted(glob.glob(pattern))
        elif Path(pattern).is_file():
            files.append(pattern)
        else:
            raise FileNotFoundError(f"--data {spec}: no such shard {pattern}")
    return files


def _images_under(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def detect_layout(spec: str) -> str:
    path = Path(spec)
    if path.is_dir():
        from tokenshuffle.data.folder import CAPTIONS_FILE

        if (path / CAPTIONS_FILE).is_file():
            return "jsonl"
        if any(path.glob("*.tar")) and not any(p.suffix.lower() in IMAGE_EXTENSIONS for p in path.iterdir()):
            return "tar"
        return "image-txt"
    if path.suffix == ".tar" or any(c in spec for c in "*?[{"):
        return "tar"
    raise FileNotFoundError(f"--data {spec}: no such folder or tar shard (expected a captions.jsonl folder, "
                            "a folder of images with .txt captions, or WebDataset .tar shards)")


def open_source(spec: str | Path) -> Source:
    """Find the layout of ``spec`` and list its entries; ValueError when it lists nothing at all."""
    spec = str(spec)
    layout = detect_layout(spec)
    if layout == "jsonl":
        from tokenshuffle.data.folder import CAPTIONS_FILE, read_records

        entries: tuple = tuple(read_records(Path(spec) / CAPTIONS_FILE))
        for num, rec in enumerate(entries, start=1):
            if "file" not in rec or "caption" not in rec:
                raise ValueError(f"--data {spec}/{CAPTIONS_FILE}:{num}: needs 'file' and 'caption' keys")
        what = f"{CAPTIONS_FILE} lists no images"
    elif layout == "image-txt":
        entries, what = tuple(_images_under(Path(spec))), f"no image files ({', '.join(IMAGE_EXTENSIONS)}) in it"
    else:
        entries, what = tuple(_tar_files(spec)), "no .tar shards match it"
    if not entries:
        raise ValueError(f"--data {spec}: {what}")
    root = spec if layout != "tar" else ""
    return Source(spec=spec, layout=layout, root=root, entries=entries)


def iter_unit(unit: Unit, *, skipped: Counter, need_caption: bool = True) -> Iterator[RawItem]:
    """The unit's items in order; unusable ones are counted in ``skipped`` by reason and left out."""
    if unit.layout == "jsonl":
        yield from _jsonl_items(unit, skipped)
    elif unit.layout == "image-txt":
        yield from _image_txt_items(unit, skipped, need_caption)
    else:
        from tokenshuffle.data.shards import tar_items

        yield from tar_items(unit.entries[0], skipped=skipped, need_caption=need_caption)


def _jsonl_items(unit: Unit, skipped: Counter) -> Iterator[RawItem]:
    root = Path(unit.root)
    for rec in unit.entries:
        path = root / rec["file"]
        if not path.is_file():
            skipped["missing"] += 1
            continue
        caption = rec["caption"]
        metadata = dict(rec.get("metadata") or {})
        metadata.update({k: rec[k] for k in _PROVENANCE if k in rec})  # travels into shards and code shards
        yield RawItem(key=rec["file"], data=path, caption=caption, captions=list(rec.get("captions") or [caption]),
                      metadata=metadata)


def _image_txt_items(unit: Unit, skipped: Counter, need_caption: bool) -> Iterator[RawItem]:
    root = Path(unit.root)
    for rel in unit.entries:
        path = root / rel
        txt = path.with_suffix(".txt")
        caption = txt.read_text(encoding="utf-8", errors="replace").strip() if txt.is_file() else None
        if need_caption and not caption:
            skipped["no_caption"] += 1
            continue
        yield RawItem(key=rel, data=path, caption=caption, captions=[caption] if caption else [])
