"""Watching a run: metrics as JSON lines (and TensorBoard when installed) and sample-grid PNGs."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import torch

from tokenshuffle.model.lm import TokenShuffleLM
from tokenshuffle.serialization import atomic_write
from tokenshuffle.vq.data import to_uint8


class MetricsLog:
    """Appends one JSON object per record to ``<run>/metrics.jsonl``; mirrors scalars to TensorBoard.

    ``resume_step``: the step of the checkpoint a resumed run starts from (records after it are
    dropped); None for a run starting at step 0, which drops any records a killed first try left."""

    def __init__(self, run: Path, *, enabled: bool, resume_step: int | None = None) -> None:
        self.enabled = enabled
        self.path = run / "metrics.jsonl"
        self.writer = None
        if not enabled:
            return
        if self.path.exists():
            self._truncate_after(-1 if resume_step is None else resume_step)
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(run / "tb"), purge_step=resume_step or None)
        except ImportError:  # tensorboard is optional
            self.writer = None

    def _truncate_after(self, step: int) -> None:
        """On resume, drop records written after the checkpoint so the log is the run's true history."""
        kept = [line for line in self.path.read_text().splitlines()
                if line.strip() and _record_step(line) is not None and _record_step(line) <= step]
        tmp = self.path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(line + "\n" for line in kept))
        os.replace(tmp, self.path)

    def write(self, step: int, record: dict) -> None:
        if not self.enabled:
            return
        clean = {k: (v if not isinstance(v, float) or math.isfinite(v) else str(v)) for k, v in record.items()}
        with open(self.path, "a") as f:
            f.write(json.dumps({"step": step, **clean}) + "\n")
        if self.writer is not None:
            for k, v in record.items():
                if isinstance(v, (int, float)):
                    self.writer.add_scalar(k, v, step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def _record_step(line: str) -> int | None:
    try:
        return int(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return None


@torch.no_grad()
def write_sample_grid(
    lm: TokenShuffleLM, vq, path: Path, *, captions: list[str], tokenizer, grid: tuple[int, int],
    guidance_scale: float, seed: int,
) -> None:
    """Sample one image per caption (fixed seed, so grids of successive steps are comparable)."""
    from PIL import Image

    from tokenshuffle.sampling import SamplingConfig, generate

    was_training = lm.training
    lm.eval()
    try:
        codes = generate(lm, [tokenizer.encode(c) for c in captions], grid=grid,
                         sampling=SamplingConfig(guidance_scale=guidance_scale, top_k=None),
                         generator=torch.Generator(lm.output.weight.device).manual_seed(seed))
    finally:
        lm.clear_cache()
        lm.train(was_training)
    vq_device = next(vq.parameters()).device
    images = vq.decode(codes.to(vq_device)).cpu()  # (B, 3, H, W) in [-1, 1]
    pixels = to_uint8(images)  # (B, 3, H, W)
    B, _, H, W = pixels.shape
    row = pixels.permute(2, 0, 3, 1).reshape(H, B * W, 3)  # (H, B*W, 3): images side by side
    atomic_write(path, lambda p: Image.fromarray(row.numpy()).save(p, format="PNG"))
