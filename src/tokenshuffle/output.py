"""Where a command writes: checked before the work starts, written whole or not at all.

``check_out_file`` / ``check_out_dir`` probe the place (creating missing parent folders, writing and
removing a small file) so a read-only, full or wrong ``--out`` fails in one line before any work.
``write_files`` writes several files into temporary siblings first and renames them into place only
when all are written, so a disk that fills half-way leaves none of them.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from tokenshuffle.serialization import make_public


def _probe(folder: Path, flag: str) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".probe.", suffix=".tmp")
        try:
            os.write(fd, b"\0" * 4096)  # a full disk refuses even this
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(tmp)
    except OSError as exc:
        raise ValueError(f"{flag} {folder}: cannot write there ({exc.strerror or exc})") from None


def check_out_file(path: str | os.PathLike, *, flag: str = "--out", suffix: str | None = None) -> Path:
    """``path`` names a file this process can create (its folder is made if missing); not a folder."""
    path = Path(path)
    if suffix is not None and path.suffix.lower() != suffix:
        raise ValueError(f"{flag} must name a {suffix} file, got {str(path)!r}")
    if path.is_dir():
        raise ValueError(f"{flag} {path} is a folder; give a file name")
    for parent in path.parents:  # a file where a folder is needed
        if parent.exists() and not parent.is_dir():
            raise ValueError(f"{flag} {path}: {parent} is not a folder")
    _probe(path.parent, flag)
    return path


def check_out_dir(path: str | os.PathLike, *, flag: str = "--out") -> Path:
    """``path`` is a folder this process can write into (made if missing), not a file."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{flag} {path} is a file; give a folder")
    _probe(path, flag)
    return path


def write_files(writes: dict[Path, Callable[[str], None]]) -> None:
    """Call each ``write(tmp_path)`` on a temporary sibling of its path; rename all into place only after
    every one succeeded, else remove the temporaries and raise (nothing half-written is left)."""
    done: list[tuple[str, Path]] = []
    try:
        for path, write in writes.items():
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            os.close(fd)
            done.append((tmp, path))
            write(tmp)
            make_public(tmp)
    except BaseException:
        for tmp, _ in done:
            if os.path.exists(tmp):
                os.unlink(tmp)
        raise
    for tmp, path in done:
        os.replace(tmp, path)

