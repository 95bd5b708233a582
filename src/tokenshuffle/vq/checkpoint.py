"""Pickle-free, self-verifying training checkpoints of ``train-vq``.

Nested state (optimizer state dicts, counters) is split into tensors and a JSON skeleton that points
at them; both go into one safetensors file (the skeleton in its metadata). The checkpoint folder
also holds ``manifest.json``: the file's size and sha256, sealed with a digest of itself
(``tokenshuffle.integrity``), checked on load. The folder is written beside its place and swapped in
whole (``serialization.replace_dir``), so a kill leaves the old checkpoint or the new one. Non-finite
tensors are never saved.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from tokenshuffle.integrity import (
    CorruptCheckpoint,
    NonFiniteState,
    check_files,
    describe_files,
    is_sealed_intact,
    nonfinite_tensors,
    seal,
)
from tokenshuffle.serialization import recover_dir, replace_dir

_TENSOR = "__tensor__"


def _flatten(obj, prefix: str, tensors: dict[str, torch.Tensor]):
    if isinstance(obj, torch.Tensor):
        tensors[prefix] = obj.detach().contiguous().cpu()
        return {_TENSOR: prefix}
    if isinstance(obj, dict):
        # JSON keys are strings; remember int keys (optimizer param ids) so they round-trip.
        return {"__dict__": [[k, _flatten(v, f"{prefix}/{k}", tensors)] for k, v in obj.items()]}
    if isinstance(obj, list | tuple):
        return {"__list__": [_flatten(v, f"{prefix}/{i}", tensors) for i, v in enumerate(obj)]}
    return obj


def _unflatten(obj, tensors: dict[str, torch.Tensor]):
    if isinstance(obj, dict) and _TENSOR in obj:
        return tensors[obj[_TENSOR]]
    if isinstance(obj, dict) and "__dict__" in obj:
        return {k: _unflatten(v, tensors) for k, v in obj["__dict__"]}
    if isinstance(obj, dict) and "__list__" in obj:
        return [_unflatten(v, tensors) for v in obj["__list__"]]
    return obj


STATE_NAME, MANIFEST_NAME = "state.safetensors", "manifest.json"
FORMAT = "tokenshuffle-vq-train/1"


def save_state(directory: str | os.PathLike, state: dict) -> None:
    """Write ``state`` (any nesting of dicts/lists/tensors/JSON scalars) as the checkpoint folder
    ``directory``, replacing it whole; NonFiniteState (nothing written) if a tensor holds NaN/inf."""
    directory = Path(directory)
    tensors: dict[str, torch.Tensor] = {}
    skeleton = json.dumps(_flatten(state, "s", tensors))
    bad = nonfinite_tensors(tensors)
    if bad:
        raise NonFiniteState(f"non-finite values in {', '.join(bad[:4])}{' ...' if len(bad) > 4 else ''}")
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}.", suffix=".tmp"))
    try:
        save_file(tensors, str(tmp / STATE_NAME), metadata={"skeleton": skeleton})
        manifest = seal({"format": FORMAT, "files": describe_files(tmp, (STATE_NAME,))})
        (tmp / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1))
        replace_dir(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def verify_state(directory: str | os.PathLike) -> None:
    """CorruptCheckpoint unless the folder's files match its manifest (folders from before the
    manifest have none: only their safetensors header is checked, by loading)."""
    directory = Path(directory)
    path = directory / MANIFEST_NAME
    if not path.is_file():
        return
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorruptCheckpoint(f"checkpoint {directory} is corrupt: {MANIFEST_NAME}: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not is_sealed_intact(manifest):
        raise CorruptCheckpoint(f"checkpoint {directory} is corrupt: {MANIFEST_NAME} does not match its sha256")
    problem = check_files(directory, manifest.get("files", {}))
    if problem:
        raise CorruptCheckpoint(f"checkpoint {directory} is truncated or corrupt: {problem}")


def load_state(directory: str | os.PathLike, *, device: str | torch.device = "cpu") -> dict:
    verify_state(directory)
    try:
        with safe_open(str(Path(directory) / STATE_NAME), framework="pt", device=str(device)) as f:
            tensors = {k: f.get_tensor(k) for k in f.keys()}
            skeleton = json.loads(f.metadata()["skeleton"])
    except (SafetensorError, OSError, KeyError, json.JSONDecodeError) as exc:
        raise CorruptCheckpoint(f"checkpoint {directory} is truncated or corrupt: {STATE_NAME}: {exc}") from None
    return _unflatten(skeleton, tensors)


def has_state(directory: str | os.PathLike) -> bool:
    recover_dir(Path(directory))  # a crash between replace_dir's fallback renames
    return (Path(directory) / STATE_NAME).is_file()
