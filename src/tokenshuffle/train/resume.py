"""Where a ``tokenshuffle train --resume`` starts: the newest checkpoint that verifies, and the settings
changed since it (all applied, or refused in one line when the weights fix them; ``run_folder``)."""

from __future__ import annotations

import sys
from pathlib import Path

from tokenshuffle.model.lm import TokenShuffleLM
from tokenshuffle.run_folder import changed_settings, describe_changes, refuse_fixed
from tokenshuffle.serialization import load_state_strict
from tokenshuffle.train import checkpoint as ckpt
from tokenshuffle.train import distributed as D
from tokenshuffle.train.config import TrainConfig

RUN_MARKERS = ("checkpoints", "metrics.jsonl", "train_config.json", "lm")  # what a started run has written
FIXED_ON_RESUME = ("lm", "init_from", "grid_init_from", "init_hf_llama")  # settings a checkpoint's weights fix


def say(info: D.DistInfo, line: str) -> None:
    if info.is_main:
        print(f"tokenshuffle train: {line}", file=sys.stderr, flush=True)


def resume_point(run: Path, info: D.DistInfo) -> tuple[Path | None, list[dict]]:
    """The newest checkpoint that verifies (None: start at step 0); the newer ones are set aside."""
    if info.is_main:
        ckpt.tidy_checkpoints(run)
    D.barrier(info)
    path, skipped = ckpt.newest_good_checkpoint(run)
    if path is None and skipped:
        raise ValueError(f"--resume: no checkpoint in {ckpt.checkpoint_dir(run)} verifies; the newest: "
                         f"{skipped[0][1]}")
    D.barrier(info)  # every rank has chosen before rank 0 renames the bad ones
    records = []
    for bad, why in skipped:
        moved = ckpt.set_aside(bad) if info.is_main else bad
        say(info, f"--resume skipped {bad.name}: {why}; renamed it {moved.name}")
        records.append({"checkpoint": bad.name, "reason": why})
    if path is None:
        say(info, f"--resume: no checkpoint in {ckpt.checkpoint_dir(run)} yet; starting at step 0")
    return path, records


def load_resume_state(cfg: TrainConfig, path: Path, info: D.DistInfo) -> tuple[TokenShuffleLM, dict, dict]:
    """(the model with the checkpoint's weights, checkpoint state, {changed setting: (old, new)});
    refuses changes the weights cannot follow. ``init_from``/``init_hf_llama`` are not read again."""
    state = ckpt.load_checkpoint(path, verify=False)  # verified by resume_point
    changes = changed_settings(state["trainer"].get("train_config", {}), cfg.to_dict())
    refuse_fixed(changes, fixed=FIXED_ON_RESUME, checkpoint=path)
    if not cfg.init_hf_llama and state["lm_config"] != cfg.lm:
        raise ValueError(f"checkpoint {path} was written for a different model (its config.json differs "
                         "from this run's lm settings)")
    lm = TokenShuffleLM(state["lm_config"])
    load_state_strict(lm, state["model"], source=str(path))
    applied = f"; changed settings applied from here on: {describe_changes(changes)}" if changes else ""
    say(info, f"resuming from {path.name} (step {state['trainer']['step']}){applied}")
    return lm, state, changes
