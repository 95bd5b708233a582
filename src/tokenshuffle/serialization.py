"""Component folders in the Hugging Face layout: ``config.json`` + ``model.safetensors``, written atomically."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from tokenshuffle.model.config import LMConfig
from tokenshuffle.model.lm import TokenShuffleLM

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


def atomic_write(path: str | os.PathLike, write) -> None:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it into place."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_component(directory: str | os.PathLike, *, config_json: str, module: nn.Module,
                   dtype: torch.dtype | None = None) -> Path:
    """Write ``module``'s state dict (cast to ``dtype`` if given) and its config into ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v).detach().contiguous().cpu()
             for k, v in module.state_dict().items()}
    atomic_write(directory / WEIGHTS_NAME, lambda p: save_file(state, str(p), metadata={"format": "pt"}))
    atomic_write(directory / CONFIG_NAME, lambda p: Path(p).write_text(config_json + "\n"))
    return directory


def read_component(directory: str | os.PathLike, *, what: str) -> tuple[dict, dict[str, torch.Tensor]]:
    """(config dict, state dict) of a component folder; FileNotFoundError naming what is missing."""
    directory = Path(directory)
    for name in (CONFIG_NAME, WEIGHTS_NAME):
        if not (directory / name).is_file():
            raise FileNotFoundError(f"{what} {directory}: no {name} (expected a folder written by save_pretrained)")
    return json.loads((directory / CONFIG_NAME).read_text()), load_file(str(directory / WEIGHTS_NAME))


def load_state_strict(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """``load_state_dict`` that lists every missing, unexpected or mis-shaped key in one ValueError."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
                    for k in set(own) & set(state) if state[k].shape != own[k].shape)
    if missing or unexpected or shapes:
        raise ValueError(f"checkpoint does not match the model: missing keys {missing}; "
                         f"unexpected keys {unexpected}; shape mismatches {shapes}")
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})


def save_lm(lm: TokenShuffleLM, directory: str | os.PathLike, *, dtype: torch.dtype | None = None) -> Path:
    return save_component(directory, config_json=lm.config.to_json(), module=lm, dtype=dtype)


def load_lm(directory: str | os.PathLike) -> TokenShuffleLM:
    config, state = read_component(directory, what="LM folder")
    lm = TokenShuffleLM(LMConfig.from_dict(config))
    load_state_strict(lm, state)
    return lm.eval()
