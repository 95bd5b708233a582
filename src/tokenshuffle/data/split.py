"""Hold out part of an image-caption folder by a key, so that no held-out key is ever trained on.

``split_folder`` reads a ``captions.jsonl`` folder (``data.folder``) and writes two such folders:
every record whose key falls in the held-out fraction goes to ``heldout``, the rest to ``train``. The
key is a metadata field (``name`` for the emoji sets: one emoji name drawn by several packages stays
on one side) or the caption, compared in lower case with punctuation dropped (``normal_key``), since
packages spell one name differently ("flag: Peru", "flag peru"). Which side a key lands on depends
only on the key and ``seed`` (a hash), so adding images to the source never moves an old key across.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from tokenshuffle.errors import check_range


def normal_key(text: str) -> str:
    """Lower-case letters and digits, words joined by one space: 'Up-Right arrow:' -> 'up right arrow'."""
    return " ".join(re.findall(r"[^\W_]+", text.lower()))


def key_of(record: dict, by: str) -> str:
    """The record's split key: ``metadata[by]``, or the caption for ``by="caption"``, normalised."""
    if by == "caption":
        return normal_key(record["caption"])
    value = (record.get("metadata") or {}).get(by)
    if value is None:
        raise ValueError(f"--by {by}: record {record.get('file')!r} has no metadata field {by!r}")
    return normal_key(str(value))


def is_heldout(key: str, *, fraction: float, seed: int = 0) -> bool:
    """True for about ``fraction`` of all keys, the same ones every time for one seed."""
    digest = hashlib.sha256(f"{seed}\0{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


def split_folder(src, *, train, heldout, fraction: float, by: str = "caption", seed: int = 0) -> dict:
    """Write ``train`` and ``heldout`` folders from ``src``; returns image and key counts per side."""
    from tokenshuffle.data.folder import CAPTIONS_FILE, FolderWriter, read_records

    check_range("fraction", fraction, low=0, high=1, low_open=True, high_open=True)
    src = Path(src)
    records = read_records(src / CAPTIONS_FILE)
    keys = [key_of(r, by) for r in records]  # all read first: a record without the key fails before any write
    sides = [is_heldout(k, fraction=fraction, seed=seed) for k in keys]
    counts = {}
    for name, out, wanted in (("train", train, False), ("heldout", heldout, True)):
        with FolderWriter(out) as writer:
            for record, side in zip(records, sides, strict=True):
                if side != wanted:
                    continue
                fields = {k: v for k, v in record.items() if k not in ("file", "caption", "captions", "metadata")}
                writer.add_encoded((src / record["file"]).read_bytes(), caption=record["caption"],
                                   captions=record.get("captions"), metadata=record.get("metadata"), **fields)
        side_keys = {k for k, side in zip(keys, sides, strict=True) if side == wanted}
        counts[name] = {"images": len(writer.records), "keys": len(side_keys)}
    return counts
