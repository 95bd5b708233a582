"""What lets a saved folder prove it is whole: a sha256 per file, a sealed JSON manifest, finite tensors.

A checkpoint can be damaged without changing its size (a flipped bit on disk, a bad copy); sizes
alone then pass and NaN weights load silently. So every file's sha256 is recorded beside it and
checked on load, and the manifest that holds them carries a digest of itself (``seal``), so an edit
inside it (a changed step, a changed size) is caught too.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch

SEAL_KEY = "sha256"


class CorruptCheckpoint(ValueError):
    """A saved folder failed verification; the message says which file and how."""


class NonFiniteState(RuntimeError):
    """Weights or optimiser moments hold NaN/inf: such a state is never saved."""


def sha256_file(path: str | os.PathLike, *, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def describe_files(directory: str | os.PathLike, names) -> dict[str, dict]:
    """{name: {"bytes": size, "sha256": hex}} for the files ``names`` of ``directory``."""
    directory = Path(directory)
    return {n: {"bytes": (directory / n).stat().st_size, "sha256": sha256_file(directory / n)} for n in names}


def check_files(directory: str | os.PathLike, files: dict) -> str | None:
    """None when every file matches its record, else why not. A bare int record (older checkpoints)
    is a size only."""
    directory = Path(directory)
    for name, record in files.items():
        path = directory / name
        if not path.is_file():
            return f"{name} is missing"
        expected = record if isinstance(record, int) else record.get("bytes")
        size = path.stat().st_size
        if size != expected:
            return f"{name} has {size} bytes, expected {expected} (truncated)"
        if isinstance(record, dict) and sha256_file(path) != record.get("sha256"):
            return f"{name} does not match its sha256 (changed in place)"
    return None


def _digest(meta: dict) -> str:
    body = {k: v for k, v in meta.items() if k != SEAL_KEY}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def seal(meta: dict) -> dict:
    """``meta`` with a digest of its own content under ``"sha256"`` (JSON values round-trip exactly)."""
    return {**meta, SEAL_KEY: _digest(meta)}


def is_sealed_intact(meta: dict) -> bool:
    return meta.get(SEAL_KEY) == _digest(meta)


def nonfinite_tensors(state: dict) -> list[str]:
    """Names of floating tensors with a NaN or inf, in a nested dict of tensors (key paths joined by /)."""
    bad = []
    for key, value in state.items():
        if isinstance(value, dict):
            bad += [f"{key}/{k}" for k in nonfinite_tensors(value)]
        elif isinstance(value, torch.Tensor) and value.is_floating_point() and not torch.isfinite(value).all():
            bad.append(str(key))
    return bad
