"""Component folders in the Hugging Face layout: ``config.json`` + ``model.safetensors``.

A folder is written into a hidden temporary sibling, flushed to disk (its files, itself, then its
parent after the rename) and renamed into place, so a crash or power cut leaves the old folder or the
new one, never half of either (``replace_dir`` says how). Reading names what is missing or truncated.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
import sys
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


def fsync_path(path: str | os.PathLike) -> None:
    """Flush a file, or a folder's list of names, to disk. Folders cannot be opened on Windows: skipped."""
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if os.path.isdir(path) else 0)
    try:
        fd = os.open(path, flags)
    except (PermissionError, IsADirectoryError):
        return
    try:
        os.fsync(fd)
    except OSError as exc:  # some file systems cannot fsync a folder; the rename is still atomic there
        if exc.errno not in (errno.EINVAL, errno.EBADF, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)


def fsync_tree(directory: str | os.PathLike) -> None:
    """fsync every file and folder of a freshly written tree, the folders after their contents."""
    for root, _, files in os.walk(directory, topdown=False):
        for name in files:
            if not os.path.islink(os.path.join(root, name)):
                fsync_path(os.path.join(root, name))
        fsync_path(root)


def atomic_write(path: str | os.PathLike, write, *, durable: bool = False) -> None:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it into place.

    A killed process leaves the old file or the new one either way; ``durable`` also flushes the file
    and its folder to disk (what a power cut needs), at a few ms per file: training state uses it,
    data writers of thousands of small files do not."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        make_public(tmp)
        if durable:
            fsync_path(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    if durable:
        fsync_path(path.parent)


def write_json(path: str | os.PathLike, data) -> None:
    """Write ``data`` as indented JSON atomically, creating the parent folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda p: Path(p).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8"))


_RENAME_EXCHANGE = 2  # linux/fs.h
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap the names ``a`` and ``b`` in one atomic step (Linux renameat2 RENAME_EXCHANGE); False where
    the kernel, C library or file system cannot, so the caller falls back to two renames."""
    if sys.platform != "linux":
        return False
    fn = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if fn is None:
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EPERM):
        return False
    raise OSError(err, os.strerror(err), str(b))


def aside_path(final: Path) -> Path:
    """Where ``replace_dir``'s fallback keeps the old folder between its two renames."""
    return final.parent / f".{final.name}.old"


def recover_dir(final: Path) -> bool:
    """Undo a crash between ``replace_dir``'s two fallback renames: the old folder goes back to ``final``.
    Returns whether there was something to put back."""
    aside = aside_path(final)
    if aside.is_dir() and not final.exists():
        os.replace(aside, final)
        fsync_path(final.parent)
        return True
    return False


def replace_dir(tmp: Path, final: Path) -> None:
    """Put the folder ``tmp`` at ``final``; at every instant ``final`` is the whole old folder or the
    whole new one, or (fallback only) missing with the old one recoverable.

    ``tmp``'s files are flushed first, and the parent folder after the rename, so the new name also
    survives a power cut. Replacing uses one atomic swap of the two names where Linux offers it; the
    fallback renames the old folder to ``.<name>.old`` first, a fixed name that ``recover_dir`` (run
    here before every replace, and by checkpoint readers) renames back if a crash hit between the two.
    """
    make_public(tmp)
    fsync_tree(tmp)
    recover_dir(final)
    if not final.exists():
        os.replace(tmp, final)
        fsync_path(final.parent)
        return
    # The parent is flushed before the old folder's files go, so a power cut cannot persist their
    # removal without the rename: ``final`` would be an empty folder.
    if _exchange(tmp, final):
        fsync_path(final.parent)
        shutil.rmtree(tmp, ignore_errors=True)  # tmp now names the old folder
        return
    aside = aside_path(final)
    if aside.exists():  # left by a crash after the second rename: final is the newer folder
        shutil.rmtree(aside)
    os.replace(final, aside)
    os.replace(tmp, final)
    fsync_path(final.parent)
    shutil.rmtree(aside, ignore_errors=True)


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
