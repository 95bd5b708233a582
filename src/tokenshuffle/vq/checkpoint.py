"""Pickle-free training checkpoints: nested state (optimizer state dicts, counters) is split into
tensors and a JSON skeleton that points at them; both go into one safetensors file (the skeleton
in its metadata), written atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from tokenshuffle.serialization import atomic_write

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


STATE_NAME = "state.safetensors"


def save_state(directory: str | os.PathLike, state: dict) -> None:
    """Write ``state`` (any nesting of dicts/lists/tensors/JSON scalars) to ``directory/state.safetensors``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors: dict[str, torch.Tensor] = {}
    skeleton = json.dumps(_flatten(state, "s", tensors))
    atomic_write(directory / STATE_NAME, lambda p: save_file(tensors, str(p), metadata={"skeleton": skeleton}))


def load_state(directory: str | os.PathLike, *, device: str | torch.device = "cpu") -> dict:
    with safe_open(str(Path(directory) / STATE_NAME), framework="pt", device=str(device)) as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
        skeleton = json.loads(f.metadata()["skeleton"])
    return _unflatten(skeleton, tensors)


def has_state(directory: str | os.PathLike) -> bool:
    return (Path(directory) / STATE_NAME).is_file()
