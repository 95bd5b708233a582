"""The VQ training loop: ``train_vq(config, out=DIR)``.

The step itself (losses, EMA, dead-code restart) is ``vq.trainer.Trainer``. Everything needed to
resume (weights, EMA, optimizer, discriminator, counters) is saved to ``DIR/checkpoint`` (verified on
load, ``vq.checkpoint``); the tokenizer itself (EMA weights when EMA is on) to ``DIR`` as config.json +
model.safetensors. Under torchrun each rank trains on its own stream
of ``batch_size / world_size`` images with gradients averaged over ranks (``vq.ddp``); rank 0 writes.

Resuming follows ``tokenshuffle.run_folder``, as ``train`` does: ``resume=True`` continues from the
checkpoint (step 0 if there is none yet), applying every setting changed since it and recording the
changes; changes to ``vq.*``, ``init_from`` or ``train_parts`` are refused; without ``resume`` a
folder that holds a run is refused. SIGINT/SIGTERM save after the current step and raise
``signals.Interrupted``. Non-finite weights are never saved (``integrity.NonFiniteState``).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

import torch
from tqdm import tqdm

from tokenshuffle.run_folder import changed_settings, describe_changes, refuse_fixed, refuse_started
from tokenshuffle.serialization import atomic_write
from tokenshuffle.signals import Interrupted, StopSignals
from tokenshuffle.vq import ddp
from tokenshuffle.vq.checkpoint import has_state, load_state
from tokenshuffle.vq.data import training_batches
from tokenshuffle.vq.train_config import VQTrainConfig
from tokenshuffle.vq.trainer import Trainer, lr_at

RUN_MARKERS = ("checkpoint", "log.jsonl", "train_config.json", "model.safetensors")
FIXED_ON_RESUME = ("vq", "init_from", "train_parts")  # what the checkpoint's weights and optimiser fix


def _say(line: str) -> None:
    print(f"tokenshuffle train-vq: {line}", file=sys.stderr, flush=True)


def _step_of(line: str) -> int | None:
    try:
        return int(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):  # a line cut by a kill, or not a record
        return None


def _truncate_log(path: Path, step: int) -> None:
    """Drop log records after ``step`` (all of them for -1): what a killed try wrote past its checkpoint."""
    if not path.is_file():
        return
    kept = [line for line in path.read_text().splitlines() if (_step_of(line) or step + 1) <= step]
    atomic_write(path, lambda p: Path(p).write_text("".join(line + "\n" for line in kept)))


def _start(trainer: Trainer, cfg: VQTrainConfig, out: Path, *, resume: bool, device: torch.device) -> dict | None:
    """Load the checkpoint (resume) or the parent's weights; -> the resume record for the log, or None."""
    if not resume:
        refuse_started(out, RUN_MARKERS)
    if resume and has_state(out / "checkpoint"):
        state = load_state(out / "checkpoint", device=device)
        changes = changed_settings(state.get("config", {}), cfg.to_dict())
        refuse_fixed(changes, fixed=FIXED_ON_RESUME, checkpoint=out / "checkpoint")
        trainer.load(state)
        applied = f"; changed settings applied from here on: {describe_changes(changes)}" if changes else ""
        _say(f"resuming from {out / 'checkpoint'} (step {trainer.step}){applied}")
        return {"step": trainer.step, "event": "resume", "changed": {k: list(v) for k, v in changes.items()}}
    if resume:
        _say(f"--resume: no checkpoint in {out / 'checkpoint'} yet; starting at step 0")
    if cfg.init_from:
        trainer.init_weights(cfg.init_from)
    return None


def train_vq(cfg: VQTrainConfig, *, out: str | Path, device: str | torch.device | None = None,
             resume: bool = False) -> Path:
    """Train a tokenizer with ``cfg`` into ``out`` (``resume``: continue its checkpoint). Returns ``out``.
    Under torchrun every rank calls this; ``batch_size`` is the global batch."""
    info = ddp.setup(device)
    try:
        return _train_vq(cfg, out=Path(out), info=info, resume=resume)
    finally:
        ddp.teardown()


def _prepare(cfg: VQTrainConfig, out: Path, info: ddp.DistInfo, *, resume: bool) -> tuple[Trainer, dict | None]:
    """The trainer, loaded on every rank and equal to rank 0's; -> (trainer, the resume record or None)."""
    if cfg.batch_size % info.world_size:
        raise ValueError(f"batch_size={cfg.batch_size} must be divisible by the number of processes "
                         f"{info.world_size}")
    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
    ddp.barrier(info)
    trainer = Trainer(cfg, out, info)
    record = _start(trainer, cfg, out, resume=resume, device=info.device)
    for module in (trainer.model, trainer.ema, trainer.disc):  # every rank starts from rank 0's weights
        ddp.broadcast_module(module, info)
    ddp.barrier(info)  # every rank has checked the folder before rank 0 writes into it
    if info.is_main:
        _truncate_log(out / "log.jsonl", trainer.step if record else -1)
        text = json.dumps(cfg.to_dict(), indent=2)
        atomic_write(out / "train_config.json", lambda p: Path(p).write_text(text), durable=True)
    return trainer, record


def _train_vq(cfg: VQTrainConfig, *, out: Path, info: ddp.DistInfo, resume: bool) -> Path:
    # Read the data first: a data set with nothing usable is refused before --out is touched.
    sample_batch = next(training_batches(cfg.data, image_sizes=(min(cfg.image_sizes),), crop_size=0,
                                         batch_size=4, seed=cfg.seed + 10**6))
    trainer, record = _prepare(cfg, out, info, resume=resume)
    skipped: Counter = Counter()
    # A resumed run restarts the data stream from (seed, step, rank): reproducible, not bit-identical.
    batches = training_batches(cfg.data, image_sizes=cfg.image_sizes, crop_size=cfg.crop_size,
                               batch_size=cfg.batch_size // info.world_size,
                               seed=cfg.seed + 7919 * trainer.step + 104729 * info.rank, skipped=skipped)
    trainer.model.train()
    with open(out / "log.jsonl" if info.is_main else os.devnull, "a") as log, StopSignals() as signals:
        if record:
            log.write(json.dumps(record) + "\n")
        _loop(trainer, batches, sample_batch.to(info.device), log, signals, skipped)
    if info.is_main and not (out / "model.safetensors").is_file():
        trainer.save()
    if info.is_main and skipped:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(skipped.items()))
        _say(f"skipped {sum(skipped.values())} unusable images on rank 0 ({reasons})")
    return out


def _loop(trainer: Trainer, batches, sample_batch: torch.Tensor, log, signals: StopSignals, skipped: Counter) -> None:
    cfg, info = trainer.cfg, trainer.info
    bar = tqdm(total=cfg.num_steps, initial=trainer.step, desc="train-vq", unit="step", dynamic_ncols=True,
               disable=not info.is_main)
    start = time.time()
    try:
        while trainer.step < cfg.num_steps:
            stats = trainer.train_step(next(batches).to(trainer.device))
            bar.update(1)
            step = trainer.step
            if step % cfg.log_every == 0 or step == cfg.num_steps:
                used = trainer.window_used
                bar.set_postfix(loss=f"{stats['loss']:.4f}", psnr=f"{stats['psnr']:.2f}", used=f"{used:.0%}",
                                skipped=sum(skipped.values()))
                log.write(json.dumps({"step": step, "lr": lr_at(cfg, step - 1), "used": used,
                                      "elapsed_s": round(time.time() - start, 1), **stats,
                                      "skipped": dict(skipped)}) + "\n")
                log.flush()
            if info.is_main and (step % cfg.sample_every == 0 or step == cfg.num_steps):
                trainer.write_samples(sample_batch)
            if step % cfg.ckpt_every == 0 or step == cfg.num_steps:
                if info.is_main:
                    trainer.save()
                ddp.barrier(info)
            if ddp.any_rank(signals.requested, info) and step < cfg.num_steps:  # every rank stops at one step
                if info.is_main and trainer.saved_step != step:
                    trainer.save()
                log.write(json.dumps({"step": step, "event": "interrupted", "signal": signals.name}) + "\n")
                raise Interrupted(f"{signals.name} at step {step}: saved {trainer.out / 'checkpoint'}; run the "
                                  "same command with --resume to continue", signum=signals.signum)
    finally:
        bar.close()
