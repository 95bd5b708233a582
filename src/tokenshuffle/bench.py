"""``tokenshuffle bench``: measured, not claimed, speed of generation (and training).

Every configuration runs in one process, one after another, with the same prompt and weights drawn
from the same seed, so the ratios between configurations are meaningful on any machine; absolute
times mean something only on a GPU. Each figure is the median over ``repeats`` warm runs.
"""

from __future__ import annotations

import dataclasses
import os
import platform
import resource
import statistics
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from tokenshuffle.bench_cost import (
    PeakMemory,
    allocated_kv_bytes,
    kv_cache_bytes,
    mean_kv_read_bytes,
    read_bandwidth,
    weight_bytes_per_step,
)
from tokenshuffle.devices import cpuinfo
from tokenshuffle.errors import check_choice, check_range
from tokenshuffle.model.config import PRESETS, LMConfig
from tokenshuffle.model.layers import kernels_ready
from tokenshuffle.model.lm import TokenShuffleLM
from tokenshuffle.sampling import SamplingConfig, generate
from tokenshuffle.sampling.generate import cache_len

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
PROMPT = "a red circle to the left of a blue star"


# -- shared helpers (also used by ``bench train``) ---------------------------------------------
def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], capture_output=True, text=True, cwd=Path(__file__).parent,
                              timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _cpu_name() -> str:
    return cpuinfo("model name") or platform.processor() or platform.machine()


def environment(device: torch.device, dtype: str) -> dict:
    commit = _git("rev-parse", "--short", "HEAD") or "unknown"
    if commit != "unknown" and _git("status", "--porcelain", "--untracked-files=no", "--", "."):
        commit += "+dirty"  # the package code timed is not exactly that commit
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{_cpu_name()}, {os.cpu_count()} cores"
    return {"device": f"{device.type}: {name}", "dtype": dtype, "torch": torch.__version__,
            "threads": torch.get_num_threads(), "commit": commit, "python": platform.python_version()}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_runs(fn: Callable[[], object], *, device: torch.device, warmup: int, repeats: int) -> list[float]:
    """Seconds of each of ``repeats`` calls of ``fn`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return times


def peak_memory_mb(device: torch.device) -> float:
    """Peak device memory on CUDA; on CPU the process's peak resident set (includes earlier configs)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def print_table(rows: list[dict], columns: list[tuple[str, str]], env: dict) -> None:
    print(" | ".join(f"{k}={v}" for k, v in env.items()))
    widths = [max(len(title), *(len(fmt_cell(r[key])) for r in rows)) for key, title in columns]
    print("  ".join(title.rjust(w) for (_, title), w in zip(columns, widths, strict=True)))
    for r in rows:
        print("  ".join(fmt_cell(r[key]).rjust(w) for (key, _), w in zip(columns, widths, strict=True)))


def fmt_cell(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"
    return str(v)


def bench_lm_config(name: str, *, s: int, grid: tuple[int, int], image_vocab_size: int) -> LMConfig:
    """Preset ``name`` with window s, sized so the grid fits (grid tokens and sequence length)."""
    base = PRESETS[name]
    return LMConfig.preset(name, shuffle_window=s, image_vocab_size=image_vocab_size,
                           max_grid_size=max(base.max_grid_size, *grid),
                           max_seq_len=max(base.max_seq_len, grid[0] * grid[1] // s**2 + 256))


def check_run(cfg) -> None:
    """Checks shared by GenerateBench and TrainBench: run counts and windows that divide the grid."""
    check_range("batch", cfg.batch, low=1)
    check_range("repeats", cfg.repeats, low=1)
    check_range("warmup", cfg.warmup, low=0)
    check_range("downsample", cfg.downsample, low=1)
    for s in cfg.windows:
        check_range("window", s, low=1)
        step = cfg.downsample * s
        if cfg.height % step or cfg.width % step:
            raise ValueError(
                f"height={cfg.height} and width={cfg.width} must be multiples of downsample*s={step} (s={s})"
            )


# -- bench generate ------------------------------------------------------------------------------
@dataclass(frozen=True)
class GenerateBench:
    models: tuple[str, ...] = ("gpt-b",)
    height: int = 512
    width: int = 512
    downsample: int = 16
    windows: tuple[int, ...] = (1, 2, 4)
    cfg: tuple[bool, ...] = (True,)
    window_ar: tuple[bool, ...] = (False,)  # LMConfig.window_ar rows (the head is skipped at s=1)
    batch: int = 1
    image_vocab_size: int = 16384
    dtypes: tuple[str, ...] = ("fp32",)
    device: str = "cpu"
    warmup: int = 1
    repeats: int = 3
    guidance_scale: float = SamplingConfig().guidance_scale
    compile: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        for m in self.models:
            check_choice("model", m, PRESETS)
        for d in self.dtypes:
            check_choice("dtype", d, DTYPES)
        check_run(self)


def _cost_columns(lm: TokenShuffleLM, *, rows: int, num_steps: int, whole_cache: bool, bandwidth: float) -> dict:
    """KV-cache MB (allocated and by formula), bytes a step must read and the bound that sets."""
    prefix = len(PROMPT.encode()) + 4
    positions = cache_len(lm, num_steps)
    cache_dtype = lm.cache_dtype()
    kv = kv_cache_bytes(lm, rows=rows, positions=positions, dtype=cache_dtype)
    allocated = allocated_kv_bytes(lm, rows=rows, positions=positions, dtype=cache_dtype)
    read = weight_bytes_per_step(lm) + mean_kv_read_bytes(
        lm, rows=rows, prefix=prefix, num_steps=num_steps, cache_positions=positions, dtype=cache_dtype,
        whole_cache=whole_cache)
    return {"cache_positions": positions, "kv_dtype": str(cache_dtype).removeprefix("torch."),
            "kv_mb": allocated / 2**20, "kv_mb_formula": kv / 2**20,
            "read_mb_per_step": read / 2**20, "bound_ms": 1e3 * read / bandwidth}


def _bench_cell(cfg: GenerateBench, lm: TokenShuffleLM, *, grid, sampling: SamplingConfig, device, log) -> dict:
    """Time one (model, s, dtype, cfg) cell: warm-up on 4 windows, then ``repeats`` whole images."""
    texts = [list(PROMPT.encode())] * cfg.batch
    s = lm.s
    gen = torch.Generator(device=device)

    def run():
        gen.manual_seed(cfg.seed)
        return generate(lm, texts, grid=grid, sampling=sampling, generator=gen, compile=cfg.compile)

    # Warm up on a grid of 4 windows: threads, allocator and kernels, not a whole image. Compiled, on the
    # cell's own grid: the static cache's length is part of the compiled graph, so another grid's warm-up
    # would leave the compilation inside the timed run (so compiled cells warm up at least once).
    warm_grid, warmup = (grid, max(cfg.warmup, 1)) if cfg.compile else ((2 * s, 2 * s), cfg.warmup)
    timed_runs(lambda: generate(lm, texts, grid=warm_grid, sampling=sampling, compile=cfg.compile),
               device=device, warmup=warmup, repeats=0)
    with PeakMemory(device) as peak:
        times = timed_runs(run, device=device, warmup=0, repeats=cfg.repeats)
    sec = statistics.median(times)
    steps = grid[0] * grid[1] // (s * s)
    return {"steps": steps, "ms_per_step": 1e3 * sec / steps, "s_per_image": sec / cfg.batch,
            "images_per_s": cfg.batch / sec, "peak_mem_mb": peak.mb, "times_s": times}


def bench_generate(cfg: GenerateBench, *, log=print) -> dict:
    device = torch.device(cfg.device)
    grid = (cfg.height // cfg.downsample, cfg.width // cfg.downsample)
    rows, bandwidths = [], []
    cells = [(name, s, w, d) for name in cfg.models for s in cfg.windows for w in cfg.window_ar
             for d in cfg.dtypes if s > 1 or not w]
    for name, s, window_ar, dtype_name in cells:
        torch.manual_seed(cfg.seed)
        lm_cfg = bench_lm_config(name, s=s, grid=grid, image_vocab_size=cfg.image_vocab_size)
        lm_cfg = dataclasses.replace(lm_cfg, window_ar=window_ar)
        dtype = DTYPES[dtype_name]
        lm = TokenShuffleLM(lm_cfg).to(device=device, dtype=dtype).eval()
        params = sum(p.numel() for p in lm.parameters())
        for use_cfg in cfg.cfg:
            sampling = SamplingConfig(guidance_scale=cfg.guidance_scale if use_cfg else 1.0, top_k=1000)
            row = {"model": name, "params_m": params / 1e6, "s": s, "window_ar": window_ar, "dtype": dtype_name,
                   "cfg": use_cfg, "batch": cfg.batch, "grid": f"{grid[0]}x{grid[1]}"}
            # The bandwidth just before and after the cell: on a shared VM it moves by half from one minute
            # to the next, and a bound from another minute would make the ratio say more about that.
            before = read_bandwidth(device)
            row |= _bench_cell(cfg, lm, grid=grid, sampling=sampling, device=device, log=log)
            bandwidth = (before + read_bandwidth(device)) / 2
            bandwidths.append(bandwidth)
            row["read_gb_s"] = bandwidth / 1e9
            # Compiled or on a GPU a step attends over the whole static cache (Decoder._cached_len), except
            # through tokenshuffle's CPU attention kernel, which reads only the written positions.
            whole = (cfg.compile or device.type != "cpu") and not (device.type == "cpu" and kernels_ready())
            row |= _cost_columns(lm, rows=cfg.batch * (2 if use_cfg else 1), num_steps=row["steps"],
                                 whole_cache=whole, bandwidth=bandwidth)
            row["x_bound"] = row["ms_per_step"] / row["bound_ms"]
            rows.append(row)
            head = " window head" if window_ar else ""
            log(f"  {name} s={s}{head} {dtype_name} cfg={'on' if use_cfg else 'off'}: "
                f"{row['ms_per_step']:.1f} ms/step ({row['x_bound']:.2f}x its bound {row['bound_ms']:.1f} at "
                f"{row['read_gb_s']:.1f} GB/s), "
                f"{row['s_per_image']:.2f} s/image")
        del lm
    for r in rows:
        base = next(b for b in rows if b["model"] == r["model"] and b["cfg"] == r["cfg"] and b["dtype"] == r["dtype"]
                    and b["s"] == min(cfg.windows) and b["window_ar"] == min(cfg.window_ar))
        r["speedup"] = r["images_per_s"] / base["images_per_s"]
    env = environment(device, ",".join(cfg.dtypes)) | {
        "read_bandwidth_gb_s": round(statistics.median(bandwidths) / 1e9, 2)}
    return {"benchmark": "generate", "environment": env, "config": dataclasses.asdict(cfg), "results": rows}


GENERATE_COLUMNS = [("model", "model"), ("s", "s"), ("window_ar", "window head"), ("dtype", "dtype"), ("cfg", "cfg"),
                    ("grid", "grid"), ("steps", "steps"), ("ms_per_step", "ms/step"), ("read_gb_s", "GB/s"),
                    ("bound_ms", "bound ms"), ("x_bound", "x bound"), ("s_per_image", "s/image"),
                    ("images_per_s", "images/s"), ("speedup", "x vs min s"), ("kv_dtype", "KV dtype"),
                    ("kv_mb", "KV MB"), ("kv_mb_formula", "KV MB formula"), ("peak_mem_mb", "peak MB")]


# -- bench train ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainBench:
    model: str = "gpt-b"
    height: int = 512
    width: int = 512
    downsample: int = 16
    windows: tuple[int, ...] = (1, 2, 4)
    batch: int = 4
    image_vocab_size: int = 16384
    dtype: str = "fp32"
    device: str = "cpu"
    warmup: int = 1
    repeats: int = 3
    seed: int = 0

    def __post_init__(self) -> None:
        check_choice("model", self.model, PRESETS)
        check_choice("dtype", self.dtype, ("fp32", "bf16"))
        check_run(self)


def bench_train(cfg: TrainBench, *, log=print) -> dict:
    """Images/s of whole training steps (forward, loss, backward, clipping, AdamW) for each window s."""
    from tokenshuffle.sequence import make_batch
    from tokenshuffle.train.optim import adamw
    from tokenshuffle.train.step import lm_loss

    device = torch.device(cfg.device)
    grid = (cfg.height // cfg.downsample, cfg.width // cfg.downsample)
    gen = torch.Generator().manual_seed(cfg.seed)
    codes = torch.randint(0, cfg.image_vocab_size, (cfg.batch, *grid), generator=gen)  # (B, h, w)
    texts = [list(PROMPT.encode())] * cfg.batch
    autocast = dict(device_type=device.type, dtype=torch.bfloat16, enabled=cfg.dtype == "bf16")
    rows = []
    for s in cfg.windows:
        torch.manual_seed(cfg.seed)
        lm_cfg = bench_lm_config(cfg.model, s=s, grid=grid, image_vocab_size=cfg.image_vocab_size)
        lm = TokenShuffleLM(lm_cfg).to(device)
        params = sum(p.numel() for p in lm.parameters())
        batch = make_batch(texts, codes, lm=lm).to(device)
        opt = adamw([{"params": list(lm.parameters())}], lr=1e-4)

        def step(lm=lm, batch=batch, opt=opt):
            opt.zero_grad(set_to_none=True)
            with torch.autocast(**autocast):
                loss, _ = lm_loss(lm, batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(lm.parameters(), 1.0)
            opt.step()

        timed_runs(step, device=device, warmup=cfg.warmup, repeats=0)
        reset_peak(device)
        times = timed_runs(step, device=device, warmup=0, repeats=cfg.repeats)
        sec = statistics.median(times)
        row = {"model": cfg.model, "params_m": params / 1e6, "s": s, "grid": f"{grid[0]}x{grid[1]}",
               "positions": batch.prefix.shape[1] + batch.windows.shape[1], "batch": cfg.batch,
               "s_per_step": sec, "images_per_s": cfg.batch / sec, "peak_mem_mb": peak_memory_mb(device),
               "times_s": times}
        rows.append(row)
        log(f"  {cfg.model} s={s}: {row['positions']} positions, {sec:.2f} s/step, {row['images_per_s']:.3f} images/s")
        del lm, opt
    base_row = next(r for r in rows if r["s"] == min(cfg.windows))
    for r in rows:
        r["speedup"] = r["images_per_s"] / base_row["images_per_s"]
    return {"benchmark": "train", "environment": environment(device, cfg.dtype),
            "config": dataclasses.asdict(cfg), "results": rows}


TRAIN_COLUMNS = [("model", "model"), ("params_m", "params M"), ("s", "s"), ("grid", "grid"),
                 ("positions", "positions"), ("batch", "batch"), ("s_per_step", "s/step"),
                 ("images_per_s", "images/s"), ("speedup", "x vs min s"), ("peak_mem_mb", "peak MB")]
