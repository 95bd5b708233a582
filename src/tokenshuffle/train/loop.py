"""The training loop of ``tokenshuffle train``: build, (re)load, step, watch, checkpoint.

One optimiser step consumes ``batch_size`` samples, all ranks and micro-steps together; the loss of
each micro-batch is divided by ``grad_accum`` and DDP/FSDP average over ranks, so any split of the
same global batch gives the same update. A NaN/inf loss or gradient norm skips the update (data and
schedule still advance, so the run keeps its length); ``max_bad_steps`` in a row stop the run after
a checkpoint it can resume from. Non-finite weights are never saved (``TrainingStopped`` instead).

Resuming follows ``tokenshuffle.run_folder``: ``resume=True`` continues from the newest checkpoint
that verifies (each one skipped is named, with the reason, and renamed ``*.corrupt``) and applies
every setting changed since then, recording the changes; changes to ``lm.*``, ``init_from`` or
``init_hf_llama`` are refused. SIGINT/SIGTERM save a checkpoint after the current step and raise
``Interrupted``; under torchrun the flag travels in the step's metric all-reduce, so every rank stops
after the same step and the save's collectives line up.
"""

from __future__ import annotations

import json
import math
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from tokenshuffle.data.caption_swaps import SwapNegatives
from tokenshuffle.data.code_sources import first_captions
from tokenshuffle.eval.nll import NLLConfig, heldout_nll
from tokenshuffle.integrity import NonFiniteState
from tokenshuffle.model.io import save_lm
from tokenshuffle.model.lm import TokenShuffleLM
from tokenshuffle.run_folder import refuse_started
from tokenshuffle.sequence import make_batch
from tokenshuffle.serialization import atomic_write
from tokenshuffle.signals import Interrupted, StopSignals
from tokenshuffle.text import save_text_tokenizer
from tokenshuffle.train import checkpoint as ckpt
from tokenshuffle.train import distributed as D
from tokenshuffle.train.batches import BatchStream
from tokenshuffle.train.build import build_lm, load_tokenizer, make_sources
from tokenshuffle.train.config import TrainConfig
from tokenshuffle.train.monitor import MetricsLog, write_sample_grid
from tokenshuffle.train.optim import apply_settings, build_optimizer, lr_at, set_lr
from tokenshuffle.train.resume import RUN_MARKERS, load_resume_state, resume_point


class TrainingStopped(RuntimeError):
    """The run stopped itself: too many non-finite losses in a row (a checkpoint was written first),
    or non-finite weights (not saved: the newest checkpoint stays the last good one)."""



# -- the run --------------------------------------------------------------------------------------
@dataclass
class _Run:
    """Everything one training run holds while it steps."""

    cfg: TrainConfig
    dir: Path
    info: D.DistInfo
    lm: TokenShuffleLM
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    tokenizer: object
    stream: BatchStream
    eval_source: object
    vq: object
    fsdp: bool
    dtype: torch.dtype
    negative: SwapNegatives | None = None
    step: int = 0
    counters: dict = field(default_factory=lambda: {"bad_in_row": 0, "num_bad": 0})
    saved_step: int = -1
    saved: Path | None = None
    log: MetricsLog | None = None
    bar: tqdm | None = None
    last: dict = field(default_factory=dict)
    window: list = field(default_factory=lambda: [time.perf_counter(), 0])  # [start time, images since]


def _build(cfg: TrainConfig, run: Path, info: D.DistInfo, lm: TokenShuffleLM) -> _Run:
    tokenizer = load_tokenizer(cfg, lm)
    lm.to(info.device)
    fsdp = D.uses_fsdp(cfg, info)
    model = D.wrap(lm, cfg, info)
    train_source, eval_source, vq = make_sources(cfg, lm, info.device)
    stream = BatchStream(train_source, tokenizer=tokenizer, seed=cfg.seed, caption_dropout=cfg.caption_dropout,
                         caption_choice=cfg.caption_choice, bucket_weights=cfg.bucket_weight_map)
    negative = SwapNegatives.named(cfg.contrast, tokenizer=tokenizer) if cfg.contrast else None
    return _Run(cfg=cfg, dir=run, info=info, lm=lm, model=model, optimizer=build_optimizer(lm, cfg),
                tokenizer=tokenizer, stream=stream, eval_source=eval_source, vq=vq, fsdp=fsdp,
                dtype=D.resolve_dtype(cfg, info), negative=negative)


def _restore(r: _Run, state: dict, path: Path) -> None:
    """Optimiser moments, data position, counters and RNG from a checkpoint; hyper-parameters from cfg."""
    D.load_optim_state(r.lm, r.optimizer, state["optim"], fsdp=r.fsdp)
    apply_settings(r.optimizer, r.cfg)
    trainer = state["trainer"]
    r.step, r.stream.position = trainer["step"], trainer["samples_seen"]
    r.counters = {k: trainer[k] for k in r.counters}
    r.saved_step, r.saved = r.step, path
    ckpt.set_rng_state(state["rng"], trainer["rng"])


def _record_start(r: _Run, init: dict, resumed: Path | None, changes: dict, skipped: list[dict]) -> None:
    """train_config.json (the settings now in effect), the tokenizer, and a start or resume record."""
    if r.info.is_main:
        r.dir.mkdir(parents=True, exist_ok=True)
        text = json.dumps(r.cfg.to_dict(), indent=1) + "\n"
        atomic_write(r.dir / "train_config.json", lambda p: Path(p).write_text(text), durable=True)
        save_text_tokenizer(r.tokenizer, r.dir / "text_tokenizer.json")
    r.log = MetricsLog(r.dir, enabled=r.info.is_main, resume_step=r.step if resumed else None)
    if resumed is None:
        r.log.write(0, {"event": "start", **{k: v for k, v in init.items() if k != "new"},
                        "new_params": len(init.get("new", [])), "world_size": r.info.world_size,
                        **({"skipped": skipped} if skipped else {})})
    else:
        r.log.write(r.step, {"event": "resume", "checkpoint": resumed.name, "world_size": r.info.world_size,
                             "changed": {k: list(v) for k, v in changes.items()}, "skipped": skipped})


def train(cfg: TrainConfig, *, out: str | Path, resume: bool = False, progress: bool = True,
          device: str | None = None) -> dict:
    """Run (or resume) training into the folder ``out``; returns the last logged metrics.

    Raises ``TrainingStopped`` when the run stops itself and ``signals.Interrupted`` after saving on
    SIGINT/SIGTERM."""
    run = Path(out)
    info = D.setup(device)
    try:
        with StopSignals() as signals:
            return _train(cfg, run, resume=resume, progress=progress, info=info, signals=signals)
    finally:
        D.teardown()


def _train(cfg: TrainConfig, run: Path, *, resume: bool, progress: bool, info: D.DistInfo,
           signals: StopSignals) -> dict:
    if not resume:
        refuse_started(run, RUN_MARKERS)
    path, skipped = resume_point(run, info) if resume else (None, [])
    if path is None:
        (lm, init), state, changes = build_lm(cfg), None, {}
    else:
        (lm, state, changes), init = load_resume_state(cfg, path, info), {}
    r = _build(cfg, run, info, lm)
    if state is not None:
        _restore(r, state, path)
    del state
    _record_start(r, init, path, changes, skipped)
    r.bar = tqdm(total=cfg.num_steps, initial=r.step, disable=not (progress and info.is_main), desc="train",
                 dynamic_ncols=True)
    try:
        while r.step < cfg.num_steps:
            metrics, grad_norm, lr, stop = _optimizer_step(r, signals)
            _after_step(r, metrics, grad_norm, lr)
            # One process stops at the boundary after the signal; several at the one after the all-reduce
            # that carried it (a signal that came later in the step waits for the next one).
            if (stop or (signals.requested and not info.enabled)) and r.step < cfg.num_steps:
                _stop_on_signal(r, signals)
    finally:
        r.bar.close()
    _finish(r)
    return r.last


# -- one step -------------------------------------------------------------------------------------
def _optimizer_step(r: _Run, signals: StopSignals) -> tuple[dict, float, float, bool]:
    """One update from ``batch_size`` samples -> (metrics averaged over ranks, grad norm, lr, stop?)."""
    cfg, info = r.cfg, r.info
    lr = lr_at(r.step, cfg)
    set_lr(r.optimizer, lr)
    micro = r.stream.next_step(global_batch=cfg.batch_size, grad_accum=cfg.grad_accum, rank=info.rank,
                               world_size=info.world_size)
    r.optimizer.zero_grad(set_to_none=True)
    sums: dict[str, float] = {}
    autocast = dict(device_type=info.device.type, dtype=r.dtype, enabled=r.dtype != torch.float32)
    for texts, codes in micro:
        negatives = None if r.negative is None else [r.negative(t) if t else None for t in texts]
        batch = make_batch(texts, codes, lm=r.lm, negatives=negatives).to(info.device)
        with torch.autocast(**autocast):
            loss, metrics = r.model(batch)
        (loss / cfg.grad_accum).backward()
        for k, v in metrics.items():
            sums[k] = sums.get(k, 0.0) + v / cfg.grad_accum
    keys = sorted(sums)
    # The stop request rides in the metrics' all-reduce: every rank learns of a signal any rank got
    # in the same step, so all of them save (a collective under FSDP) and stop after the same step.
    *values, stop = D.all_mean([sums[k] for k in keys] + [float(signals.requested)], info)
    metrics = dict(zip(keys, values, strict=True))
    grad_norm = math.nan
    if math.isfinite(metrics["loss"]):
        max_norm = cfg.grad_clip if cfg.grad_clip > 0 else math.inf
        norm = torch.nn.utils.clip_grad_norm_(r.lm.parameters(), max_norm)
        grad_norm = float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)
    if math.isfinite(grad_norm):
        r.optimizer.step()
        r.counters["bad_in_row"] = 0
    else:  # a skipped update: data and schedule still advance, by design
        r.counters["bad_in_row"] += 1
        r.counters["num_bad"] += 1
    r.step += 1
    r.window[1] += cfg.batch_size
    r.bar.update(1)
    return metrics, grad_norm, lr, stop > 0


def _after_step(r: _Run, metrics: dict, grad_norm: float, lr: float) -> None:
    """Stop on a run of bad steps; log, evaluate, sample and checkpoint when due."""
    cfg, step = r.cfg, r.step
    if r.counters["bad_in_row"] >= cfg.max_bad_steps:
        _save(r)
        r.log.write(step, {"event": "stopped", **r.counters})
        raise TrainingStopped(f"{r.counters['bad_in_row']} non-finite losses in a row at step {step} (max_bad_steps="
                              f"{cfg.max_bad_steps}); checkpoint saved in {ckpt.checkpoint_dir(r.dir)} — lower lr, "
                              "raise z_loss_weight or enable lm.qk_norm, then --resume")
    due = {name: every and (step % every == 0 or step == cfg.num_steps)
           for name, every in (("log", cfg.log_every), ("eval", cfg.eval_every), ("sample", cfg.sample_every),
                               ("ckpt", cfg.ckpt_every))}
    record = {}
    if due["log"]:
        elapsed = time.perf_counter() - r.window[0]
        record.update(metrics, lr=lr, grad_norm=grad_norm, images_per_s=r.window[1] / max(elapsed, 1e-9),
                      **r.counters)
        r.window[:] = [time.perf_counter(), 0]
        r.bar.set_postfix(loss=f"{metrics['loss']:.3f}", bits=f"{metrics['bits_per_token']:.3f}")
    if due["eval"]:
        record.update(_evaluate(r))
    if record:
        r.log.write(step, record)
        r.last = {"step": step, **record}
    if due["sample"] and r.vq is not None:
        _write_samples(r)
    if due["ckpt"]:
        _save(r)


def _evaluate(r: _Run) -> dict:
    if r.eval_source is None:
        return {}
    cfg = r.cfg
    nll = heldout_nll(r.lm, r.eval_source, tokenizer=r.tokenizer, forward=r.model,
                      config=NLLConfig(num_samples=cfg.num_eval_samples,
                                       batch_size=max(1, cfg.batch_size // (cfg.grad_accum * r.info.world_size))),
                      autocast_dtype=r.dtype if r.dtype != torch.float32 else None)
    by_grid = {f"eval_bits_per_token_{name}": bits for name, bits in nll.get("bits_per_token_by_grid", {}).items()}
    return {"eval_bits_per_token": nll["bits_per_token"], "eval_image_ce": nll["image_ce"], **by_grid}


def _write_samples(r: _Run) -> None:
    copy = _plain_copy(r.lm, r.info, r.fsdp)
    if copy is None:
        return
    cfg, vq = r.cfg, r.vq
    captions = first_captions(r.eval_source.get(list(range(cfg.num_sample_images)))[0])
    (r.dir / "samples").mkdir(exist_ok=True)
    write_sample_grid(copy, vq, r.dir / "samples" / f"step_{r.step:08d}.png", captions=captions,
                      tokenizer=r.tokenizer, grid=(cfg.height // vq.downsample, cfg.width // vq.downsample),
                      guidance_scale=cfg.sample_guidance_scale, seed=cfg.seed)


# -- saving ---------------------------------------------------------------------------------------
def _save(r: _Run) -> None:
    """Checkpoint the current step (every rank calls this: the state gather is a collective)."""
    if r.saved_step == r.step:
        return
    bad = D.nonfinite_names(r.lm, r.optimizer)
    if D.any_rank(bool(bad), r.info):
        kept = f"{r.saved} stays the newest checkpoint" if r.saved else "no checkpoint was written"
        raise TrainingStopped(f"weights or optimiser moments are non-finite at step {r.step} "
                              f"({', '.join(bad[:3]) or 'on another rank'}); not saved, {kept} — lower lr, raise "
                              "z_loss_weight or enable lm.qk_norm, then --resume")
    model_state = D.full_model_state(r.lm, r.info, fsdp=r.fsdp)
    optim_state = D.full_optim_state(r.lm, r.optimizer, fsdp=r.fsdp)
    if r.info.is_main:
        trainer = {"samples_seen": r.stream.position, "train_config": r.cfg.to_dict(),
                   "world_size": r.info.world_size, **r.counters}
        try:
            r.saved = ckpt.save_checkpoint(r.dir, step=r.step, lm_config=r.lm.config, model_state=model_state,
                                           optim_state=optim_state, trainer=trainer, keep_last=r.cfg.keep_last)
        except NonFiniteState as exc:  # the local check above makes this unreachable; kept as the last guard
            raise TrainingStopped(f"not saved at step {r.step}: {exc}") from None
    r.saved_step = r.step
    D.barrier(r.info)


def _stop_on_signal(r: _Run, signals: StopSignals) -> None:
    _save(r)
    signum = signals.signum or signal.SIGTERM  # another rank got it
    name = signals.name or "SIGTERM"
    r.log.write(r.step, {"event": "interrupted", "signal": name})
    r.log.close()
    D.barrier(r.info)
    raise Interrupted(f"{name} at step {r.step}: saved {ckpt.checkpoint_dir(r.dir) / f'step_{r.step:08d}'}; "
                      "run the same command with --resume to continue", signum=signum)


def _plain_copy(lm: TokenShuffleLM, info, fsdp: bool) -> TokenShuffleLM | None:
    """An unwrapped copy for sampling and the final save (a collective under FSDP)."""
    state = D.full_model_state(lm, info, fsdp=fsdp)
    if not info.is_main:
        return None
    copy = TokenShuffleLM(lm.config)
    copy.load_state_dict(state)
    return copy.to(info.device)


def _finish(r: _Run) -> None:
    copy = _plain_copy(r.lm, r.info, r.fsdp)
    if copy is not None:
        save_lm(copy, r.dir / "lm")
        save_text_tokenizer(r.tokenizer, r.dir / "lm" / "text_tokenizer.json")
    r.log.close()
    D.barrier(r.info)
