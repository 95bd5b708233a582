"""Saving and loading a TokenShuffleLM as a folder: ``config.json`` (LMConfig) + ``model.safetensors``."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from tokenshuffle.model.config import LMConfig
from tokenshuffle.model.legacy import fuse_legacy_names
from tokenshuffle.model.lm import TokenShuffleLM
from tokenshuffle.serialization import load_state_strict, read_component, save_component


def save_lm(lm: TokenShuffleLM, directory: str | os.PathLike, *, dtype: torch.dtype | None = None) -> Path:
    return save_component(directory, config_json=lm.config.to_json(), module=lm, dtype=dtype)


def read_lm_state(directory: str | os.PathLike) -> tuple[LMConfig, dict[str, torch.Tensor]]:
    config, state = read_component(directory, what="LM folder")
    try:
        return LMConfig.from_dict(config), fuse_legacy_names(state)
    except TypeError as exc:
        raise ValueError(f"LM folder {directory}: config.json is not an LMConfig ({exc})") from None


def load_lm(directory: str | os.PathLike, *, device: str | torch.device = "cpu") -> TokenShuffleLM:
    config, state = read_lm_state(directory)
    lm = TokenShuffleLM(config)
    load_state_strict(lm, state, source=f"LM folder {directory}")
    return lm.to(device).eval()
