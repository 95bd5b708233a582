"""GenEval-protocol score of a text-to-image pipeline on a prompt set, with its generation time.

``evaluate_pipeline`` generates ``images_per_prompt`` images for every prompt of a GenEval metadata
list (``data.prompts.load_eval_prompts``: the shipped held-out ``val`` or ``hard`` sets), scores them
with the scene evaluator (``eval.scenes``) and reports accuracy per task, overall, and seconds per
image. Prompts are generated ``batch_size // images_per_prompt`` at a time, each batch with a
generator seeded by ``seed`` and its first prompt's index: a result is reproducible for a given batch
size, and settings compared with the same batch size see the same random numbers.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from tokenshuffle.errors import check_range
from tokenshuffle.eval.scenes import evaluate
from tokenshuffle.serialization import atomic_write, write_json


def load_prompt_set(name: str) -> list[dict]:
    """``val`` / ``hard`` (the shipped held-out sets) or a GenEval metadata JSONL path."""
    from tokenshuffle.data.folder import read_records
    from tokenshuffle.data.prompts import load_eval_prompts

    if name in ("val", "hard"):
        return load_eval_prompts(name)
    if not Path(name).is_file():
        raise ValueError(f"prompts must be 'val', 'hard' or a GenEval metadata .jsonl file, got {name!r}")
    return read_records(name)


@torch.no_grad()
def evaluate_pipeline(pipe, prompts: list[dict], *, images_per_prompt: int = 1, batch_size: int = 8,
                      seed: int = 0, out: str | Path | None = None, progress: bool = False,
                      height: int | None = None, width: int | None = None, sampling=None, **overrides) -> dict:
    """Score ``pipe`` on ``prompts`` (GenEval metadata dicts) at ``height`` x ``width`` with ``sampling`` (None:
    the pipeline's defaults) and SamplingConfig fields as keyword ``overrides``.

    Returns ``evaluate``'s dict plus ``seconds_per_image`` (generation and decoding, not scoring)
    and ``settings``. With ``out`` the images are written there as ``NNNNN-I.png``.
    """
    from tqdm import tqdm

    check_range("images_per_prompt", images_per_prompt, low=1)
    check_range("batch_size", batch_size, low=1)
    if not prompts:
        raise ValueError("prompts is empty")
    _, sampling = pipe.resolve(height=height, width=width, sampling=sampling, **overrides)  # checked before work
    per_batch = max(1, batch_size // images_per_prompt)
    images, elapsed = [], 0.0
    for start in tqdm(range(0, len(prompts), per_batch), desc="eval t2i", disable=not progress):
        chunk = [meta["prompt"] for meta in prompts[start : start + per_batch]]
        g = torch.Generator(device=pipe.device).manual_seed(seed * 1_000_003 + start)
        t0 = time.perf_counter()
        images += pipe(chunk, height=height, width=width, sampling=sampling, num_images=images_per_prompt,
                       generator=g)
        elapsed += time.perf_counter() - t0
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        for k, im in enumerate(images):
            atomic_write(out / f"{k // images_per_prompt:05d}-{k % images_per_prompt}.png",
                         lambda p, im=im: im.save(p, format="PNG"))
    result = evaluate(images, prompts, progress=progress)
    result["seconds_per_image"] = elapsed / len(images)
    result["settings"] = {"height": height or pipe.height, "width": width or pipe.width, **sampling.to_dict()}
    result["images_per_prompt"] = images_per_prompt
    if out is not None:
        write_json(out / "result.json", {k: v for k, v in result.items() if k != "results"})
    return result
