"""The one learning-rate schedule of ``train`` and ``train-vq``: linear warm-up, then cosine decay.

Low level on purpose (no import of either trainer), so both use this one function and a resumed run
recomputes its rate from the step and the current settings instead of restoring a saved one.
"""

from __future__ import annotations

import math


def warmup_cosine_lr(step: int, *, peak: float, warmup_steps: int, num_steps: int, min_lr_ratio: float) -> float:
    """Learning rate of optimiser step ``step`` (0-based): ``peak * (step + 1) / warmup_steps`` while
    warming up, then cosine from ``peak`` down to ``peak * min_lr_ratio`` at ``num_steps`` (held after)."""
    if step < warmup_steps:
        return peak * ((step + 1) / warmup_steps)
    progress = min(1.0, (step - warmup_steps) / max(1, num_steps - warmup_steps))
    return peak * (min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))
