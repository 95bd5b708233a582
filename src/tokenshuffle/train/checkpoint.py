"""Training checkpoints: exact resume, self-verifying folders, the last K good ones kept.

A checkpoint is a folder ``<run>/checkpoints/step_<N>/`` holding
  ``config.json`` + ``model.safetensors``   the LM (also a plain LM folder: ``model.io.load_lm`` reads it)
  ``train_state.safetensors``              optimiser moments and RNG states, keyed by parameter name
  ``trainer.json``                         format tag, step, data position, counters, the train config,
                                           optimiser hyper-parameters, each file's size and sha256, and
                                           a digest of itself (``integrity.seal``)
It is written into a hidden temporary folder, flushed and renamed into place (``replace_dir``), so a
run killed at any moment leaves either the whole checkpoint or none. Loading verifies every byte: a
file truncated or changed in place, or an edited ``trainer.json``, is refused with the reason, and
``newest_good_checkpoint`` falls back to the one before. Non-finite weights or moments are never
saved, and rotation only removes checkpoints older than the one just written, so the newest good
checkpoint always survives.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from tokenshuffle.integrity import (
    CorruptCheckpoint,
    NonFiniteState,
    check_files,
    describe_files,
    is_sealed_intact,
    nonfinite_tensors,
    seal,
)
from tokenshuffle.model.config import LMConfig
from tokenshuffle.model.io import read_lm_state
from tokenshuffle.model.legacy import fuse_legacy_list, fuse_legacy_names, join_moments
from tokenshuffle.serialization import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    recover_dir,
    replace_dir,
    write_component_files,
)

FORMAT = "tokenshuffle-lm-train/2"
LEGACY_FORMATS = ("tokenshuffle-lm-train/1",)  # sizes only, no sha256, no seal
STATE_NAME, TRAINER_NAME = "train_state.safetensors", "trainer.json"
CORRUPT_SUFFIX = ".corrupt"


# -- training checkpoints -------------------------------------------------------------------------
def checkpoint_dir(run: str | os.PathLike) -> Path:
    return Path(run) / "checkpoints"


def step_of(path: Path) -> int:
    return int(path.name[5:])


def list_checkpoints(run: str | os.PathLike) -> list[Path]:
    """Checkpoint folders of a run, oldest first (hidden temporary folders and ``*.corrupt`` are not)."""
    root = checkpoint_dir(run)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and p.name.startswith("step_") and p.name[5:].isdigit()]
    return sorted(found, key=step_of)


def latest_checkpoint(run: str | os.PathLike) -> Path | None:
    found = list_checkpoints(run)
    return found[-1] if found else None


def tidy_checkpoints(run: str | os.PathLike) -> None:
    """Before resuming: put back a checkpoint a crash left moved aside by ``replace_dir``'s fallback, and
    remove what killed saves and rotations left (hidden temporary and half-deleted folders)."""
    root = checkpoint_dir(run)
    if root.is_dir():
        _clean_stale(root)


def newest_good_checkpoint(run: str | os.PathLike) -> tuple[Path | None, list[tuple[Path, str]]]:
    """(the newest checkpoint that verifies or None, [(newer checkpoint skipped, why), ...])."""
    skipped = []
    for path in reversed(list_checkpoints(run)):
        try:
            verify_checkpoint(path)
        except CorruptCheckpoint as exc:
            skipped.append((path, str(exc)))
            continue
        return path, skipped
    return None, skipped


def set_aside(path: Path) -> Path:
    """Rename a checkpoint that failed verification to ``step_<N>.corrupt[.k]`` (kept for a post-mortem,
    out of the way of resumes and rotation); returns the new path."""
    target, k = path.with_name(path.name + CORRUPT_SUFFIX), 1
    while target.exists():
        target, k = path.with_name(f"{path.name}{CORRUPT_SUFFIX}.{k}"), k + 1
    os.replace(path, target)
    return target


def rng_state() -> dict:
    tensors = {"rng/torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng/cuda/{i}"] = s
    np_state = np.random.get_state()
    version, internal, gauss = random.getstate()
    extra = {"python": [version, list(internal), gauss], "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]]}
    return {"tensors": tensors, "json": extra}


def set_rng_state(tensors: dict[str, torch.Tensor], extra: dict) -> None:
    torch.set_rng_state(tensors["rng/torch"])
    cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("rng/cuda/"))]
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    version, internal, gauss = extra["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, *rest = extra["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), *rest))


def save_checkpoint(
    run: str | os.PathLike,
    *,
    step: int,
    lm_config: LMConfig,
    model_state: dict[str, torch.Tensor],
    optim_state: dict,
    trainer: dict,
    keep_last: int,
) -> Path:
    """Write ``step_<step>`` atomically; ``optim_state`` is {"state": {name: {k: tensor}}, "param_groups": [...]}.

    Raises ``NonFiniteState`` (and writes nothing) if a weight or optimiser moment is NaN/inf."""
    bad = nonfinite_tensors(model_state) + nonfinite_tensors(optim_state["state"])
    if bad:
        raise NonFiniteState(f"non-finite values in {', '.join(bad[:4])}{' ...' if len(bad) > 4 else ''}")
    root = checkpoint_dir(run)
    root.mkdir(parents=True, exist_ok=True)
    _clean_stale(root)
    final = root / f"step_{step:08d}"
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{final.name}.", suffix=".tmp"))
    try:
        write_component_files(tmp, config_json=lm_config.to_json(), state=model_state)
        tensors = {f"optim/{name}/{k}": v.detach().contiguous().cpu()
                   for name, moments in optim_state["state"].items() for k, v in moments.items()}
        rng = rng_state()
        tensors.update(rng["tensors"])
        save_file(tensors, str(tmp / STATE_NAME))
        meta = {**trainer, "format": FORMAT, "step": step, "param_groups": optim_state["param_groups"],
                "rng": rng["json"], "files": describe_files(tmp, (CONFIG_NAME, WEIGHTS_NAME, STATE_NAME))}
        (tmp / TRAINER_NAME).write_text(json.dumps(seal(meta), indent=1))
        replace_dir(tmp, final)  # flushes every file first
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _rotate(root, newest=final, keep_last=keep_last)
    return final


def _clean_stale(root: Path) -> None:
    """Remove what killed saves left: temporary folders, and rotated-out folders half deleted. A
    checkpoint moved aside between two renames is put back, not removed."""
    for stale in root.glob(".step_*"):
        if stale.name.endswith(".old") and recover_dir(root / stale.name[1:-len(".old")]):
            continue
        shutil.rmtree(stale, ignore_errors=True)


def _rotate(root: Path, *, newest: Path, keep_last: int) -> None:
    """Keep ``newest`` and the ``keep_last - 1`` checkpoints just before it; only older ones go. Each is
    renamed to a hidden name first, so a kill mid-delete leaves nothing that looks like a checkpoint."""
    older = [p for p in list_checkpoints(root.parent) if step_of(p) < step_of(newest)]
    for old in older[:max(0, len(older) - (keep_last - 1))]:
        doomed = root / f".{old.name}.{os.getpid()}.trash"
        os.replace(old, doomed)
        shutil.rmtree(doomed, ignore_errors=True)


def read_trainer(path: Path) -> dict:
    """``trainer.json`` of a checkpoint, checked for format and seal; CorruptCheckpoint if bad."""
    trainer_file = path / TRAINER_NAME
    if not trainer_file.is_file():
        raise CorruptCheckpoint(f"{path} is not a tokenshuffle training checkpoint (no {TRAINER_NAME})")
    try:
        trainer = json.loads(trainer_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CorruptCheckpoint(f"checkpoint {path} is truncated or corrupt: {TRAINER_NAME}: {exc}") from None
    got = trainer.get("format") if isinstance(trainer, dict) else None
    if got not in (FORMAT, *LEGACY_FORMATS):
        raise CorruptCheckpoint(f"{path} is not a tokenshuffle training checkpoint (format {got!r}, "
                                f"expected {FORMAT!r})")
    if got == FORMAT and not is_sealed_intact(trainer):
        raise CorruptCheckpoint(f"checkpoint {path} is corrupt: {TRAINER_NAME} does not match its sha256 "
                                "(changed in place)")
    return trainer


def verify_checkpoint(path: str | os.PathLike) -> dict:
    """Check every file of a checkpoint against ``trainer.json`` -> its content; CorruptCheckpoint if bad."""
    path = Path(path)
    trainer = read_trainer(path)
    problem = check_files(path, trainer.get("files", {}))
    if problem:
        raise CorruptCheckpoint(f"checkpoint {path} is truncated or corrupt: {problem}")
    return trainer


def load_checkpoint(path: str | os.PathLike, *, verify: bool = True) -> dict:
    """Read and verify a checkpoint -> {"trainer", "lm_config", "model", "optim", "rng"}; CorruptCheckpoint
    (a ValueError) if bad. ``verify=False`` skips the sha256 pass for a folder verified just before."""
    path = Path(path)
    trainer = verify_checkpoint(path) if verify else read_trainer(path)
    lm_config, model = read_lm_state(path)
    try:
        tensors = load_file(str(path / STATE_NAME))
    except (SafetensorError, OSError) as exc:
        raise CorruptCheckpoint(f"checkpoint {path} is truncated or corrupt: {STATE_NAME}: {exc}") from None
    optim: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optim/"):
            name, _, moment = key[len("optim/"):].rpartition("/")
            optim.setdefault(name, {})[moment] = value
    bad = nonfinite_tensors(model) + nonfinite_tensors(optim)  # older checkpoints have no sha256
    if bad:
        raise CorruptCheckpoint(f"checkpoint {path} holds non-finite values ({', '.join(bad[:4])})")
    rng = {k: v for k, v in tensors.items() if k.startswith("rng/")}
    # A checkpoint from before the fused projections resumes exactly: Adam's moments are elementwise.
    optim = fuse_legacy_names(optim, join=join_moments)
    groups = [{**g, "params": fuse_legacy_list(g["params"])} for g in trainer["param_groups"]]
    return {"trainer": trainer, "lm_config": lm_config, "model": model,
            "optim": {"state": optim, "param_groups": groups}, "rng": rng}
