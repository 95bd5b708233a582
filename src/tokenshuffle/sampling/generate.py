"""Autoregressive sampling of image codes: prefill, one ``decode_step`` per window, ``generate``.

Each decode step feeds the s² codes of the last window as one position and returns the decoder's
output there; the s² codes of the next window are drawn from it together, each from its own logits
(paper Sec. 3.2), or, with ``LMConfig.window_ar``, one after another through the small window head,
each seeing the ones drawn before it. ``decode_step`` is the ``torch.compile`` target: fixed shapes,
the static KV cache, no sampling.
"""

from __future__ import annotations

import contextlib
import dataclasses
import warnings

import torch

from tokenshuffle.model.layers import kernels_ready
from tokenshuffle.model.lm import TokenShuffleLM
from tokenshuffle.model.shuffle import check_window, windows_to_codes
from tokenshuffle.sampling.config import SamplingConfig
from tokenshuffle.sampling.guidance import CFGSchedule, cfg_combine
from tokenshuffle.sampling.logits import sample_logits
from tokenshuffle.sampling.rerank import best_of, code_loglik
from tokenshuffle.sequence import build_prefix, next_window_positions


def prefill(lm: TokenShuffleLM, prefix: torch.Tensor, *, valid: torch.Tensor,
            window_pos: torch.Tensor | None = None) -> torch.Tensor:
    """Run the (B, P) prefix into the cache -> (B, 1, D) hidden state that predicts the first window.
    ``window_pos`` (P, 4): see ``TokenShuffleLM.forward``."""
    B, P = prefix.shape
    no_windows = prefix.new_zeros(B, 0, lm.s * lm.s)
    input_pos = torch.arange(P, device=prefix.device)
    hidden = lm(prefix, no_windows, input_pos=input_pos, valid=valid, window_pos=window_pos)  # (B, P, D)
    return hidden[:, -1:]  # (B, 1, D)


def decode_step(
    lm: TokenShuffleLM, windows: torch.Tensor, *, input_pos: torch.Tensor, valid: torch.Tensor,
    window_pos: torch.Tensor | None = None,
) -> torch.Tensor:
    """Feed (B, 1, s²) codes at ``input_pos`` (1,) -> (B, 1, D) hidden state that predicts the next window.
    ``window_pos`` (1, 4): see ``TokenShuffleLM.forward``."""
    no_prefix = windows.new_zeros(windows.shape[0], 0)
    return lm(no_prefix, windows, input_pos=input_pos, valid=valid, window_pos=window_pos)  # (B, 1, D)


def sample_window(
    lm: TokenShuffleLM, hidden: torch.Tensor, *, scale: float, sampling: SamplingConfig,
    generator: torch.Generator | None = None, row_generators: list[tuple[slice, torch.Generator]] | None = None,
    context=None,
) -> torch.Tensor:
    """(rows, 1, D) hidden states -> (B, s²) codes of the next window; rows = 2B laid out [cond; uncond]
    under guidance (CFG is applied to every code's logits), B otherwise. ``row_generators`` draws each
    slice of the B rows from its own generator (the server's requests sharing one batch) instead of
    ``generator``: the network still runs once, and each slice gets the calls a lone request makes.
    ``context``: ``lm.prompt_context`` of the rows' prefixes (models with ``LMConfig.prompt_colours``)."""
    rows = hidden.shape[0]
    B = rows // 2 if sampling.use_cfg else rows
    ss = lm.s * lm.s
    features = lm.window_features(hidden)  # (rows, 1, s², D)
    codes = torch.zeros(B, 1, ss, dtype=torch.long, device=hidden.device)  # (B, 1, s²)

    def draw(f: torch.Tensor, part: slice) -> None:  # (rows, k, D) features of the codes at ``part``
        colours = lm.colour_log_probs(f, context)  # (rows, k, C) or None
        if sampling.use_cfg:
            # The head is affine in its input (linear, plus CodeFactors' bias), and the guidance weights
            # sum to one, so guiding its input guides its logits: half the rows through the V-way product.
            # The prompt-colour term is added to the logits, so it is guided on its own.
            f = cfg_combine(f, scale)  # (B, k, D)
            colours = None if colours is None else cfg_combine(colours, scale)  # (B, k, C)
        logits = lm.visual_head(f, colours=colours)  # (B, k, V)
        for rows_of, g in row_generators or [(slice(0, B), generator)]:
            codes[rows_of, 0, part] = sample_logits(logits[rows_of], temperature=sampling.temperature,
                                                    top_k=sampling.top_k, top_p=sampling.top_p, generator=g)

    head = lm.window_ar
    if head is None:  # the logits do not read the window's codes: all s² are drawn at once
        draw(features[:, 0], slice(0, ss))
        return codes[:, 0]
    # Code j is drawn from the head's feature at place j, which has read codes 0..j-1 (the head steps
    # through the window with a key/value cache), and only that row meets the V-way output layer.
    cache = head.new_cache(rows=rows, places=ss, device=hidden.device)
    prev = torch.full((rows,), head.start, dtype=torch.long, device=hidden.device)  # (rows,) code j-1
    for j in range(ss):
        draw(head.step(features[:, 0, j], prev, j=j, cache=cache)[:, None], slice(j, j + 1))  # (rows, 1, D)
        prev = codes[:, 0, j].repeat(rows // B)  # the same code for cond and uncond
    return codes[:, 0]  # (B, s²)


# One compiled decode step per (torch.compile, backend, mode) for the whole process: a new
# torch.compile wrapper would not share Dynamo's cache, and every generate call would compile again.
_COMPILED: dict = {}
COMPILE_BACKEND = "inductor"  # tests swap in a counting backend


def compile_decode_step(fn=decode_step, *, mode: str | None = None, cpp_wrapper: bool = False):
    """torch.compile ``fn`` once per process (``mode="reduce-overhead"``: CUDA graphs; ``cpp_wrapper``:
    Inductor calls the step's kernels from C++ instead of Python, ~1.5 ms a GPT-B step less on a 2-core
    CPU); where no compiler backend works, warn once and run eagerly."""
    key = (torch.compile, COMPILE_BACKEND, mode, cpp_wrapper, fn)
    if key in _COMPILED:
        return _COMPILED[key]
    options = {}
    if COMPILE_BACKEND == "inductor" and mode is not None:
        options = {"mode": mode}
    elif COMPILE_BACKEND == "inductor" and cpp_wrapper:
        options = {"options": {"cpp_wrapper": True}}
    kernels_ready()  # asked (and the kernels built) before tracing: the compiled step reads the answer
    try:
        compiled = torch.compile(fn, dynamic=False, backend=COMPILE_BACKEND, **options)
    except Exception as exc:  # noqa: BLE001 - any backend failure means "run eagerly"
        warnings.warn(f"torch.compile unavailable ({exc}); decoding eagerly", stacklevel=2)
        return fn
    state = {"fn": compiled}

    def step(*args, **kwargs):
        try:
            return state["fn"](*args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - compilation happens lazily at the first call
            if state["fn"] is fn:
                raise
            warnings.warn(f"torch.compile failed ({type(exc).__name__}: {exc}); decoding eagerly", stacklevel=2)
            state["fn"] = fn
            return fn(*args, **kwargs)

    _COMPILED[key] = step
    return step


def trusted_guards(on: bool):
    """Dynamo checks every input of the compiled step against its guards before each call (~0.5 ms a
    step for GPT-B on a 2-core CPU, a few % of it). Within one ``generate`` call every step after the first
    passes tensors of the same shapes, dtypes and devices as the first, which chose (or compiled) the
    graph with all guards checked; the later steps skip all but the guards that tell cached graphs apart
    (``skip_guard_eval_unsafe``, safe here because they need no new compilation). The stance is
    process-wide while a step runs: a function compiled elsewhere and first called from another thread in
    that window would be checked the same way."""
    return torch.compiler.set_stance("default", skip_guard_eval_unsafe=True) if on else contextlib.nullcontext()


def cache_len(lm: TokenShuffleLM, num_positions: int) -> int:
    """KV-cache positions for ``num_positions`` image positions after any prompt: sized for the longest
    prefix the model takes, not this prompt's, so every prompt gives the compiled step the same shapes."""
    return min(lm.config.max_seq_len, lm.config.max_prefix_len + num_positions)


def too_long_message(lm: TokenShuffleLM, *, grid: tuple[int, int], prefix_len: int) -> str:
    """One line: the grid needs more positions than the model was built (and trained) for, and the
    largest square grid it takes at its window s."""
    s, limit = lm.s, lm.config.max_seq_len
    n = (grid[0] // s) * (grid[1] // s)
    side = s * int(max(0, limit - prefix_len) ** 0.5)  # largest square grid (in codes) that fits
    return (f"grid {grid[0]}x{grid[1]} at s={s} needs {prefix_len} prefix + {n} image positions, past the "
            f"model's max_seq_len={limit} (its RoPE positions and what it was trained for); the largest square "
            f"grid it takes is {side}x{side} codes; use a smaller height/width or a larger shuffle window")


def check_grid(lm: TokenShuffleLM, grid: tuple[int, int]) -> tuple[int, int]:
    """(h, w) after checking that ``lm`` (already ``at`` the grid) can name and window it."""
    h, w = check_window(grid, lm.s)
    cfg = lm.config
    if max(lm.named_grid((h, w))) > cfg.max_grid_size:
        raise ValueError(f"grid h={h}, w={w} exceeds the model's max_grid_size={cfg.max_grid_size}")
    return h, w


@torch.no_grad()
def generate(
    lm: TokenShuffleLM,
    texts: list[list[int]],
    *,
    grid: tuple[int, int],
    sampling: SamplingConfig | None = None,
    generator: torch.Generator | None = None,
    compile: bool = False,
    progress=None,
) -> torch.Tensor:
    """Sample a (B, h, w) code grid for each tokenised prompt in ``texts``.

    With ``sampling.candidates`` n > 1, n grids are drawn for each prompt (as one batch of B*n, each
    prompt's candidates adjacent) and the one with the highest ``rerank.code_loglik`` is returned.
    ``progress``, if given, is called with the number of image positions done after each step.
    """
    sampling = sampling or SamplingConfig()
    n = sampling.candidates
    if n > 1:
        texts_n = [t for t in texts for _ in range(n)]
        drawn = generate(lm, texts_n, grid=grid, sampling=dataclasses.replace(sampling, candidates=1),
                         generator=generator, compile=compile, progress=progress)  # (B*n, h, w)
        return drawn[best_of(code_loglik(lm, texts_n, drawn), candidates=n)]
    if isinstance(grid, (tuple, list)) and len(grid) == 2:
        lm = lm.at(tuple(grid))
    h, w = check_grid(lm, grid)
    s = lm.s
    device = lm.output.weight.device
    num_positions = (h // s) * (w // s)
    prefix, valid = build_prefix(texts, grid=lm.named_grid((h, w)), config=lm.config, guidance=sampling.use_cfg)
    prefix, valid = prefix.to(device), valid.to(device)
    rows, P = prefix.shape
    B = len(texts)
    if P + num_positions > lm.config.max_seq_len:
        raise ValueError(too_long_message(lm, grid=(h, w), prefix_len=P))
    scales = CFGSchedule(sampling.cfg_schedule).scales(num_positions, target=sampling.guidance_scale)
    # CUDA graphs (reduce-overhead) remove the per-kernel launch cost that dominates a small decode step;
    # on CPU the C++ wrapper removes Python's cost of calling ~100 small kernels a step.
    graphs = device.type == "cuda"
    step = decode_step
    if compile:
        step = compile_decode_step(mode="reduce-overhead") if graphs else compile_decode_step(cpp_wrapper=True)
    positions = torch.arange(P, P + num_positions, device=device)
    window_pos = next_window_positions(torch.arange(P + num_positions, device=device), image_start=P,
                                       window_grid=(h // s, w // s))  # (P+N, 4)
    step_valid = torch.ones(rows, 1, dtype=torch.bool, device=device)
    context = lm.prompt_context(prefix, valid)
    out = torch.empty(B, num_positions, s * s, dtype=torch.long, device=device)  # (B, N, s²)

    lm.setup_cache(batch=rows, max_len=cache_len(lm, num_positions))
    try:
        hidden = prefill(lm, prefix, valid=valid, window_pos=window_pos[:P])  # (rows, 1, D)
        for t in range(num_positions):
            if t > 0:
                fed = out[:, t - 1 : t].repeat(rows // B, 1, 1)  # (rows, 1, s²): same codes for cond/uncond
                with trusted_guards(compile and t > 1):
                    hidden = step(lm, fed, input_pos=positions[t - 1 : t], valid=step_valid,
                                  window_pos=window_pos[P + t - 1 : P + t])  # beside positions[t - 1]
                if compile and graphs:
                    hidden = hidden.clone()  # a CUDA-graph output is overwritten by the next replay
            out[:, t] = sample_window(lm, hidden, scale=scales[t], sampling=sampling, generator=generator,
                                      context=context)
            if progress is not None:
                progress(t + 1)
    finally:
        lm.clear_cache()
    return windows_to_codes(out, grid=(h, w), s=s)
