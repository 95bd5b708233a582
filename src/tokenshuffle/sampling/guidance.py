"""Classifier-free guidance: one combine function and the guidance-scale schedules.

Batch layout (built in ``tokenshuffle.sequence.build_prefix``): rows [0, B) are conditional, rows
[B, 2B) unconditional. Guided logits = uncond + scale * (cond - uncond), the form LlamaGen uses.

Schedules give the scale at image position t of N (one position per s×s window), with target g and
progress r = t / N in [0, 1):

==============  ==================================================================
constant        g
linear          1 + (g - 1) * r
half-linear     1 + (g - 1) * min(1, 2r)        (Token-Shuffle's default: ramp, then hold)
drop-first      1 for r < 1/8 (no guidance on the first positions), then g
sine            1 + (g - 1) * sin(pi/2 * r)
sigmoid         1 + (g - 1) * (sigm(12 (r - 1/2)) - sigm(-6)) / (sigm(6) - sigm(-6))
==============  ==================================================================

Every schedule equals 1 everywhere when g = 1, so scale 1 always gives the conditional distribution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from tokenshuffle.errors import check_choice, check_range

SCHEDULES = ("constant", "linear", "half-linear", "drop-first", "sine", "sigmoid")
DROP_FIRST_FRACTION = 1 / 8


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _ramp(name: str, r: float) -> float:
    """The schedule's weight in [0, 1] on (g - 1) at progress r."""
    if name == "constant":
        return 1.0
    if name == "linear":
        return r
    if name == "half-linear":
        return min(1.0, 2.0 * r)
    if name == "drop-first":
        return 0.0 if r < DROP_FIRST_FRACTION else 1.0
    if name == "sine":
        return math.sin(math.pi / 2 * r)
    lo, hi = _sigmoid(-6.0), _sigmoid(6.0)
    return (_sigmoid(12.0 * (r - 0.5)) - lo) / (hi - lo)


@dataclass(frozen=True)
class CFGSchedule:
    """A guidance-scale schedule by name; ``scales(N, target=g)`` gives the scale at each position."""

    name: str = "half-linear"

    def __post_init__(self) -> None:
        check_choice("cfg_schedule", self.name, SCHEDULES)

    def scale(self, index: int, *, num_positions: int, target: float) -> float:
        check_range("guidance_scale", target, low=0)
        return 1.0 + (target - 1.0) * _ramp(self.name, index / max(num_positions, 1))

    def scales(self, num_positions: int, *, target: float) -> list[float]:
        return [self.scale(t, num_positions=num_positions, target=target) for t in range(num_positions)]


def cfg_combine(logits: torch.Tensor, scale: float) -> torch.Tensor:
    """(2B, ...) logits laid out [cond; uncond] -> (B, ...) guided logits."""
    cond, uncond = logits.chunk(2, dim=0)
    return uncond + scale * (cond - uncond)
