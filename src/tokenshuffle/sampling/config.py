"""SamplingConfig: every sampling setting, its one default, its check and its command-line help.

The library, the pipeline (``pipeline.json`` stores one, the model's own settings), the command line
(``cli.common.add_sampling_args`` builds one flag per field from ``FIELDS``) and the server all build
this one object; its ``__post_init__`` is the only place the settings are checked.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from tokenshuffle.errors import check_choice, check_fields, check_range
from tokenshuffle.sampling.guidance import SCHEDULES


def _setting(default, help: str):
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class SamplingConfig:
    """How to sample. ``guidance_scale`` 1 means no guidance (and no unconditional batch)."""

    guidance_scale: float = _setting(3.0, "classifier-free guidance target scale, >= 0 (1 = off)")
    cfg_schedule: str = _setting("half-linear", f"guidance schedule: {', '.join(SCHEDULES)}")
    temperature: float = _setting(1.0, "softmax temperature, >= 0 (0 = greedy)")
    top_k: int | None = _setting(None, "keep the k likeliest codes, >= 1 (0 or none = off)")
    top_p: float | None = _setting(None, "nucleus sampling mass in (0, 1] (none = off)")
    candidates: int = _setting(1, "grids drawn per image, the likeliest under the prompt kept, >= 1")

    def __post_init__(self) -> None:
        _check_number("guidance_scale", self.guidance_scale, low=0)
        check_choice("cfg_schedule", self.cfg_schedule, SCHEDULES)
        _check_number("temperature", self.temperature, low=0)
        if self.top_k is not None:
            _check_int("top_k", self.top_k, low=1)
        if self.top_p is not None:
            _check_number("top_p", self.top_p, low=0, high=1, low_open=True)
        _check_int("candidates", self.candidates, low=1)

    @property
    def use_cfg(self) -> bool:
        return self.guidance_scale != 1.0

    def replace(self, **changes) -> SamplingConfig:
        """A copy with ``changes`` applied (and checked); unknown names are refused."""
        check_fields(SamplingConfig, changes, what="sampling")
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict, *, what: str = "sampling") -> SamplingConfig:
        if not isinstance(d, dict):
            raise ValueError(f"{what} must be a JSON object of sampling settings, got {type(d).__name__}")
        check_fields(cls, d, what=what)
        return cls(**d)


FIELDS = tuple(dataclasses.fields(SamplingConfig))


def _check_number(name: str, value, **interval) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    check_range(name, value, **interval)


def _check_int(name: str, value, *, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    check_range(name, value, low=low)
