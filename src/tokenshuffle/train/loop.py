"""The training loop of ``tokenshuffle train``: build, (re)load, step, watch, checkpoint.

One optimiser step consumes ``batch_size`` samples, all ranks and micro-steps together; the loss of
each micro-batch is divided by ``grad_accum`` and DDP/FSDP average over ranks, so any split of the
same global batch gives the same update. A NaN/inf loss or gradient norm skips the update (data and
schedule still advance, so the run keeps its length); ``max_bad_steps`` in a row stop the run after
a checkpoint it can resume from.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from pathlib import Path

import torch
from tqdm import tqdm

from tokenshuffle.data.caption_swaps import SwapNegatives
from tokenshuffle.eval.nll import NLLConfig, heldout_nll
from tokenshuffle.model.io import read_lm_state, save_lm
from tokenshuffle.model.lm import TokenShuffleLM
from tokenshuffle.sequence import make_batch
from tokenshuffle.serialization import load_state_strict
from tokenshuffle.text import ByteTokenizer, load_text_tokenizer, save_text_tokenizer
from tokenshuffle.train import checkpoint as ckpt
from tokenshuffle.train import distributed as D
from tokenshuffle.train.batches import BatchStream, RandomCodes, SceneCodes, ShardCodes, first_captions
from tokenshuffle.train.config import TrainConfig
from tokenshuffle.train.monitor import MetricsLog, write_sample_grid
from tokenshuffle.train.optim import build_optimizer, build_schedule


class TrainingStopped(RuntimeError):
    """The run stopped itself (too many non-finite losses in a row); a checkpoint was written first."""


# -- building the model ---------------------------------------------------------------------------
def resolve_parent(path: str) -> Path:
    """A parent stage: an LM folder, or a run folder (its final ``lm/`` or else its latest checkpoint)."""
    p = Path(path)
    if (p / ckpt.CONFIG_NAME).is_file():
        return p
    if (p / "lm" / ckpt.CONFIG_NAME).is_file():
        return p / "lm"
    latest = ckpt.latest_checkpoint(p)
    if latest is None:
        raise FileNotFoundError(f"init_from={path}: no LM folder, run/lm or run/checkpoints/step_* found")
    return latest


def carry_over(lm: TokenShuffleLM, parent: Path) -> dict:
    """Copy every parent weight whose name and shape match (decoder, embeddings, heads); the rest
    (e.g. the shuffle MLPs a stage-1 s=1 parent never had) keeps its fresh init."""
    config, state = read_lm_state(parent)
    for name in ("text_vocab_size", "max_grid_size", "image_vocab_size", "dim", "num_layers"):
        if getattr(config, name) != getattr(lm.config, name):
            raise ValueError(f"init_from={parent}: parent {name}={getattr(config, name)} differs from this "
                             f"stage's {getattr(lm.config, name)}; the stages must share vocabulary and decoder")
    own = lm.state_dict()
    carried = [k for k in own if k in state and state[k].shape == own[k].shape]
    for k in carried:
        own[k].copy_(state[k])
    return {"carried": len(carried), "new": sorted(set(own) - set(carried))}


def build_lm(cfg: TrainConfig) -> tuple[TokenShuffleLM, dict]:
    if cfg.init_hf_llama:
        from tokenshuffle.hf_llama import lm_from_hf_llama

        return lm_from_hf_llama(cfg.init_hf_llama, base=cfg.lm, seed=cfg.seed), {"init": cfg.init_hf_llama}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg.seed)
        lm = TokenShuffleLM(cfg.lm)
    if cfg.init_from:
        return lm, {"init": cfg.init_from, **carry_over(lm, resolve_parent(cfg.init_from))}
    return lm, {"init": "scratch"}


def load_tokenizer(cfg: TrainConfig, lm: TokenShuffleLM):
    path = cfg.text_tokenizer
    if not path and cfg.init_hf_llama and (Path(cfg.init_hf_llama) / "tokenizer.json").is_file():
        path = str(Path(cfg.init_hf_llama) / "tokenizer.json")
    tok = load_text_tokenizer(path) if path else ByteTokenizer()
    if tok.vocab_size > lm.config.text_vocab_size:
        raise ValueError(f"text tokenizer has {tok.vocab_size} tokens but lm.text_vocab_size="
                         f"{lm.config.text_vocab_size}")
    return tok


def make_sources(cfg: TrainConfig, lm: TokenShuffleLM, device: torch.device):
    """-> (train source, held-out source or None, VQ tokenizer or None)."""
    vq = None
    if cfg.vq:
        from tokenshuffle.vq import VQTokenizer

        vq = VQTokenizer.from_pretrained(cfg.vq, device=device)
        if vq.codebook_size != lm.config.image_vocab_size:
            raise ValueError(f"vq codebook_size={vq.codebook_size} != lm.image_vocab_size="
                             f"{lm.config.image_vocab_size}")
    n = cfg.num_samples or None
    if cfg.data == "random":
        grid, vocab = cfg.grid, lm.config.image_vocab_size
        return (RandomCodes(grid=grid, vocab_size=vocab, seed=cfg.seed, num_samples=n),
                RandomCodes(grid=grid, vocab_size=vocab, seed=cfg.eval_seed, num_samples=cfg.num_eval_samples), vq)
    if cfg.data == "scenes":
        kw = {"height": cfg.height, "width": cfg.width, "style": cfg.scene_style}
        return (SceneCodes(vq, seed=cfg.seed, num_samples=n, **kw),
                SceneCodes(vq, seed=cfg.eval_seed, num_samples=cfg.num_eval_samples, **kw), vq)
    return ShardCodes(cfg.data), (ShardCodes(cfg.eval_data) if cfg.eval_data else None), vq


# -- the loop -------------------------------------------------------------------------------------
def _save(run: Path, step: int, lm, optimizer, schedule, stream, counters, cfg, info, fsdp) -> None:
    model_state = D.full_model_state(lm, info, fsdp=fsdp)
    optim_state = D.full_optim_state(lm, optimizer, fsdp=fsdp)
    if info.is_main:
        sched = {k: v for k, v in schedule.state_dict().items() if k != "lr_lambdas"}
        trainer = {"samples_seen": stream.position, "schedule": sched, "train_config": cfg.to_dict(),
                   "world_size": info.world_size, **counters}
        ckpt.save_checkpoint(run, step=step, lm_config=lm.config, model_state=model_state, optim_state=optim_state,
                             trainer=trainer, keep_last=cfg.keep_last)
    D.barrier(info)


def _plain_copy(lm: TokenShuffleLM, info, fsdp: bool) -> TokenShuffleLM | None:
    """An unwrapped copy for sampling and the final save (a collective under FSDP)."""
    state = D.full_model_state(lm, info, fsdp=fsdp)
    if not info.is_main:
        return None
    copy = TokenShuffleLM(lm.config)
    copy.load_state_dict(state)
    return copy.to(info.device)


def train(cfg: TrainConfig, *, out: str | Path, resume: bool = False, progress: bool = True,
          device: str | None = None) -> dict:
    """Run (or resume) training into the folder ``out``; returns the last logged metrics."""
    run = Path(out)
    info = D.setup(device)
    try:
        return _train(cfg, run, resume=resume, progress=progress, info=info)
    finally:
        D.teardown()


def _train(cfg: TrainConfig, run: Path, *, resume: bool, progress: bool, info: D.DistInfo) -> dict:
    latest = ckpt.latest_checkpoint(run)
    if latest is not None and not resume:
        raise ValueError(f"{run} already holds checkpoints (latest {latest.name}); pass --resume to continue "
                         "or choose another --out")
    if resume and latest is None:
        raise ValueError(f"--resume: no checkpoint in {ckpt.checkpoint_dir(run)}")
    lm, init = build_lm(cfg)
    state = None
    if resume:
        state = ckpt.load_checkpoint(latest)
        if state["lm_config"] != lm.config:
            raise ValueError(f"checkpoint {latest} was written for a different model (its config.json differs "
                             "from this run's lm settings)")
        load_state_strict(lm, state["model"], source=str(latest))
    tokenizer = load_tokenizer(cfg, lm)
    lm.to(info.device)
    fsdp = D.uses_fsdp(cfg, info)
    model = D.wrap(lm, cfg, info)
    optimizer = build_optimizer(lm, cfg)
    schedule = build_schedule(optimizer, cfg)
    step, counters = 0, {"bad_in_row": 0, "num_bad": 0}
    train_source, eval_source, vq = make_sources(cfg, lm, info.device)
    stream = BatchStream(train_source, tokenizer=tokenizer, seed=cfg.seed, caption_dropout=cfg.caption_dropout,
                         caption_choice=cfg.caption_choice)
    negative = SwapNegatives.named(cfg.contrast, tokenizer=tokenizer) if cfg.contrast else None
    if state is not None:
        D.load_optim_state(lm, optimizer, state["optim"], fsdp=fsdp)
        schedule.load_state_dict({**state["trainer"]["schedule"], "lr_lambdas": [None] * len(optimizer.param_groups)})
        step, stream.position = state["trainer"]["step"], state["trainer"]["samples_seen"]
        counters = {k: state["trainer"][k] for k in counters}
        ckpt.set_rng_state(state["rng"], state["trainer"]["rng"])
    if info.is_main:
        run.mkdir(parents=True, exist_ok=True)
        (run / "train_config.json").write_text(json.dumps(cfg.to_dict(), indent=1) + "\n")
        save_text_tokenizer(tokenizer, run / "text_tokenizer.json")
    log = MetricsLog(run, enabled=info.is_main, step=step)
    if step == 0:
        log.write(0, {"event": "start", **{k: v for k, v in init.items() if k != "new"},
                      "new_params": len(init.get("new", [])), "world_size": info.world_size})
    dtype = D.resolve_dtype(cfg, info)
    autocast = dict(device_type=info.device.type, dtype=dtype, enabled=dtype != torch.float32)
    bar = tqdm(total=cfg.num_steps, initial=step, disable=not (progress and info.is_main), desc="train",
               dynamic_ncols=True)
    last: dict = {}
    window_start, window_images = time.perf_counter(), 0

    def evaluate() -> dict:
        if eval_source is None:
            return {}
        nll = heldout_nll(lm, eval_source, tokenizer=tokenizer, forward=model,
                          config=NLLConfig(num_samples=cfg.num_eval_samples,
                                           batch_size=max(1, cfg.batch_size // (cfg.grad_accum * info.world_size))),
                          autocast_dtype=dtype if dtype != torch.float32 else None)
        return {"eval_bits_per_token": nll["bits_per_token"], "eval_image_ce": nll["image_ce"]}

    while step < cfg.num_steps:
        micro = stream.next_step(global_batch=cfg.batch_size, grad_accum=cfg.grad_accum, rank=info.rank,
                                 world_size=info.world_size)
        optimizer.zero_grad(set_to_none=True)
        sums: dict[str, float] = {}
        for texts, codes in micro:
            negatives = None if negative is None else [negative(t) if t else None for t in texts]
            batch = make_batch(texts, codes, lm=lm, negatives=negatives).to(info.device)
            with torch.autocast(**autocast):
                loss, metrics = model(batch)
            (loss / cfg.grad_accum).backward()
            for k, v in metrics.items():
                sums[k] = sums.get(k, 0.0) + v / cfg.grad_accum
        keys = sorted(sums)
        metrics = dict(zip(keys, D.all_mean([sums[k] for k in keys], info), strict=True))
        grad_norm = math.nan
        if math.isfinite(metrics["loss"]):
            max_norm = cfg.grad_clip if cfg.grad_clip > 0 else math.inf
            norm = torch.nn.utils.clip_grad_norm_(lm.parameters(), max_norm)
            grad_norm = float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)
        if math.isfinite(grad_norm):
            optimizer.step()
            counters["bad_in_row"] = 0
        else:
            counters["bad_in_row"] += 1
            counters["num_bad"] += 1
        with warnings.catch_warnings():  # a skipped update still advances the schedule, by design
            warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step", category=UserWarning)
            schedule.step()
        step += 1
        window_images += cfg.batch_size
        bar.update(1)
        if counters["bad_in_row"] >= cfg.max_bad_steps:
            _save(run, step, lm, optimizer, schedule, stream, counters, cfg, info, fsdp)
            log.write(step, {"event": "stopped", **counters})
            raise TrainingStopped(f"{counters['bad_in_row']} non-finite losses in a row at step {step} (max_bad_steps="
                                  f"{cfg.max_bad_steps}); checkpoint saved in {ckpt.checkpoint_dir(run)} — lower lr, "
                                  "raise z_loss_weight or enable lm.qk_norm, then --resume")
        record = {}
        if step % cfg.log_every == 0 or step == cfg.num_steps:
            elapsed = time.perf_counter() - window_start
            record.update(metrics, lr=schedule.get_last_lr()[0], grad_norm=grad_norm,
                          images_per_s=window_images / max(elapsed, 1e-9), **counters)
            window_start, window_images = time.perf_counter(), 0
            bar.set_postfix(loss=f"{metrics['loss']:.3f}", bits=f"{metrics['bits_per_token']:.3f}")
        if cfg.eval_every and (step % cfg.eval_every == 0 or step == cfg.num_steps):
            record.update(evaluate())
        if record:
            log.write(step, record)
            last = {"step": step, **record}
        if cfg.sample_every and vq is not None and (step % cfg.sample_every == 0 or step == cfg.num_steps):
            copy = _plain_copy(lm, info, fsdp)
            if copy is not None:
                captions = first_captions(eval_source.get(list(range(cfg.num_sample_images)))[0])
                (run / "samples").mkdir(exist_ok=True)
                write_sample_grid(copy, vq, run / "samples" / f"step_{step:08d}.png", captions=captions,
                                  tokenizer=tokenizer, grid=(cfg.height // vq.downsample, cfg.width // vq.downsample),
                                  guidance_scale=cfg.sample_guidance_scale, seed=cfg.seed)
        if step % cfg.ckpt_every == 0 or step == cfg.num_steps:
            _save(run, step, lm, optimizer, schedule, stream, counters, cfg, info, fsdp)
    bar.close()
    copy = _plain_copy(lm, info, fsdp)
    if copy is not None:
        save_lm(copy, run / "lm")
        save_text_tokenizer(tokenizer, run / "lm" / "text_tokenizer.json")
    log.close()
    D.barrier(info)
    return last
