"""Training checkpoints: exact resume, atomic writes, the last K kept, clear errors for bad folders.

A checkpoint is a folder ``<run>/checkpoints/step_<N>/`` holding
  ``config.json`` + ``model.safetensors``   the LM (also a plain LM folder: ``model.io.load_lm`` reads it)
  ``train_state.safetensors``              optimiser moments and RNG states, keyed by parameter name
  ``trainer.json``                         format tag, step, data position, schedule, counters, the
                                           train config, optimiser hyper-parameters and every file's size
It is written into a hidden temporary folder and renamed into place, so a run killed at any moment
leaves either the whole checkpoint or none; the sizes in ``trainer.json`` catch later truncation.
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

from tokenshuffle.model.config import LMConfig
from tokenshuffle.model.io import read_lm_state
from tokenshuffle.serialization import (
    CONFIG_NAME,
    WEIGHTS_NAME,
    replace_dir,
    write_component_files,
)

FORMAT = "tokenshuffle-lm-train/1"
STATE_NAME, TRAINER_NAME = "train_state.safetensors", "trainer.json"


# -- training checkpoints -------------------------------------------------------------------------
def checkpoint_dir(run: str | os.PathLike) -> Path:
    return Path(run) / "checkpoints"


def list_checkpoints(run: str | os.PathLike) -> list[Path]:
    """Complete checkpoints of a run, oldest first (temporary folders of interrupted saves are skipped)."""
    root = checkpoint_dir(run)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.is_dir() and p.name.startswith("step_") and p.name[5:].isdigit()]
    return sorted(found, key=lambda p: int(p.name[5:]))


def latest_checkpoint(run: str | os.PathLike) -> Path | None:
    found = list_checkpoints(run)
    return found[-1] if found else None


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
    """Write ``step_<step>`` atomically; ``optim_state`` is {"state": {name: {k: tensor}}, "param_groups": [...]}."""
    root = checkpoint_dir(run)
    root.mkdir(parents=True, exist_ok=True)
    for stale in root.glob(".step_*"):  # left by a save that was killed half-way
        shutil.rmtree(stale, ignore_errors=True)
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
                "rng": rng["json"]}
        meta["files"] = {n: (tmp / n).stat().st_size for n in (CONFIG_NAME, WEIGHTS_NAME, STATE_NAME)}
        (tmp / TRAINER_NAME).write_text(json.dumps(meta, indent=1))
        for f in tmp.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        replace_dir(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for old in list_checkpoints(run)[:-keep_last]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read and verify a checkpoint -> {"trainer", "lm_config", "model", "optim", "rng"}; ValueError if bad."""
    path = Path(path)
    trainer_file = path / TRAINER_NAME
    if not trainer_file.is_file():
        raise ValueError(f"{path} is not a tokenshuffle training checkpoint (no {TRAINER_NAME})")
    try:
        trainer = json.loads(trainer_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"checkpoint {path} is truncated or corrupt: {TRAINER_NAME}: {exc}") from None
    if not isinstance(trainer, dict) or trainer.get("format") != FORMAT:
        got = trainer.get("format") if isinstance(trainer, dict) else None
        raise ValueError(f"{path} is not a tokenshuffle training checkpoint (format {got!r}, expected {FORMAT!r})")
    for name, size in trainer["files"].items():
        actual = (path / name).stat().st_size if (path / name).is_file() else None
        if actual != size:
            raise ValueError(f"checkpoint {path} is truncated or corrupt: {name} has {actual} bytes, expected {size}")
    lm_config, model = read_lm_state(path)
    try:
        tensors = load_file(str(path / STATE_NAME))
    except (SafetensorError, OSError) as exc:
        raise ValueError(f"checkpoint {path} is truncated or corrupt: {STATE_NAME}: {exc}") from None
    optim: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optim/"):
            name, _, moment = key[len("optim/"):].rpartition("/")
            optim.setdefault(name, {})[moment] = value
    rng = {k: v for k, v in tensors.items() if k.startswith("rng/")}
    return {"trainer": trainer, "lm_config": lm_config, "model": model,
            "optim": {"state": optim, "param_groups": trainer["param_groups"]}, "rng": rng}
