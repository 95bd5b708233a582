"""Component folders in the Hugging Face layout: ``config.json`` + ``model.safetensors``.

A folder is written into a hidden temporary sibling and renamed into place, so a crash leaves the old
folder or the new one, never half of either. Reading names what is missing or truncated.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def make_public(path: str | os.PathLike) -> None:
    """Give a file or folder made by ``tempfile`` (mode 0600/0700) the mode a plain ``open``/``mkdir`` gives."""
    os.chmod(path, (0o777 if os.path.isdir(path) else 0o666) & ~_umask())


def atomic_write(path: str | os.PathLike, write) -> None:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it into place."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        make_public(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path: str | os.PathLike, data) -> None:
    """Write ``data`` as indented JSON atomically, creating the parent folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda p: Path(p).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8"))


def replace_dir(tmp: Path, final: Path) -> None:
    """Rename the folder ``tmp`` onto ``final``; an existing ``final`` is moved aside first, then removed."""
    make_public(tmp)
    if final.exists():
        trash = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".old"))
        os.replace(final, trash / final.name)
        os.replace(tmp, final)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(tmp, final)


def write_component_files(directory: Path, *, config_json: str, state: dict[str, torch.Tensor]) -> None:
    """Write config.json + model.safetensors into an existing folder (the caller makes it atomic)."""
    tensors = {k: v.detach().contiguous().cpu() for k, v in state.items()}
    save_file(tensors, str(directory / WEIGHTS_NAME), metadata={"format": "pt"})
    (directory / CONFIG_NAME).write_text(config_json + "\n")


def cast_floating(state: dict[str, torch.Tensor], dtype: torch.dtype | None) -> dict[str, torch.Tensor]:
    """``state`` with its floating tensors cast to ``dtype`` (unchanged when ``dtype`` is None)."""
    return {k: v.to(dtype) if dtype is not None and v.is_floating_point() else v for k, v in state.items()}


def save_component(directory: str | os.PathLike, *, config_json: str, module: nn.Module,
                   dtype: torch.dtype | None = None) -> Path:
    """Save ``module`` (floating tensors cast to ``dtype`` if given) as a folder, replacing it atomically."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    state = cast_floating(module.state_dict(), dtype)
    tmp = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}.", suffix=".tmp"))
    try:
        write_component_files(tmp, config_json=config_json, state=state)
        replace_dir(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


def read_component(directory: str | os.PathLike, *, what: str) -> tuple[dict, dict[str, torch.Tensor]]:
    """(config dict, state dict); FileNotFoundError if a file is missing, ValueError if one is damaged."""
    directory = Path(directory)
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        if not (directory / name).is_file():
            raise FileNotFoundError(f"{what} {directory}: no {name} (expected config.json + model.safetensors)")
    try:
        return json.loads((directory / CONFIG_NAME).read_text()), load_file(str(directory / WEIGHTS_NAME))
    except (json.JSONDecodeError, UnicodeDecodeError, SafetensorError, OSError) as exc:
        raise ValueError(f"{what} {directory} is truncated or corrupt ({exc})") from None


def load_state_strict(model: nn.Module, state: dict[str, torch.Tensor], *, source: str = "checkpoint") -> None:
    """``load_state_dict`` that lists every missing, unexpected or mis-shaped key in one ValueError."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
                    for k in set(own) & set(state) if state[k].shape != own[k].shape)
    if missing or unexpected or shapes:
        raise ValueError(f"{source} does not match the model: missing keys {missing}; "
                         f"unexpected keys {unexpected}; shape mismatches {shapes}")
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})
