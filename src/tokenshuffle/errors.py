"""Argument checking shared by configs, samplers and the CLI.

Every user mistake is a ``ValueError`` whose message names the argument and the valid values;
the CLI turns it into one line on stderr and exit code 2.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable


def check_range(name: str, value, *, low=None, high=None, low_open=False, high_open=False) -> None:
    """Raise ``ValueError`` naming ``name`` unless ``value`` lies in the stated interval."""
    ok = True
    if low is not None:
        ok &= value > low if low_open else value >= low
    if high is not None:
        ok &= value < high if high_open else value <= high
    if not ok:
        lo = "-inf" if low is None else f"{low}"
        hi = "inf" if high is None else f"{high}"
        interval = f"{'(' if low_open or low is None else '['}{lo}, {hi}{')' if high_open or high is None else ']'}"
        raise ValueError(f"{name} must be in {interval}, got {value!r}")


MAX_SEED = 2**63 - 1


def check_seed(name: str, value) -> int:
    """A seed torch and numpy both take: an integer in [0, 2**63 - 1]."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
        raise ValueError(f"{name} must be an integer in [0, {MAX_SEED}], got {value!r}")
    return value


def check_choice(name: str, value, choices: Iterable) -> None:
    choices = list(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(str, choices))}; got {value!r}")


def check_fields(cls, d: dict, *, what: str) -> None:
    """ValueError naming any key of ``d`` that is not a field of the dataclass ``cls``, or whose value is not
    of the field's declared type (int, float, bool, str, ``X | None``, tuples of those; nested configs are
    left to their own check). JSON-style values: an int passes for a float, a list for a tuple."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ValueError(f"unknown {what} fields {unknown}; valid: {sorted(names)}")
    hints = typing.get_type_hints(cls)
    for key, value in d.items():
        if not _fits(value, hints[key]):
            raise ValueError(f"{what} field {key!r} must be {_describe(hints[key])}, got {value!r}")


_SIMPLE = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def _fits(value, hint) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in args)
    if hint is type(None):
        return value is None
    if origin is tuple:
        if not isinstance(value, (tuple, list)):
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_fits(v, args[0]) for v in value)
        return len(value) == len(args) and all(_fits(v, a) for v, a in zip(value, args, strict=True))
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint in (bool, str):
        return isinstance(value, hint)
    return True  # nested configs and anything else: checked by their own constructor


def _describe(hint) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _describe(a) for a in args)
    if origin is tuple:
        return "a list of " + (_describe(args[0]) if args[-1] is Ellipsis else f"{len(args)} values")
    return _SIMPLE.get(hint, getattr(hint, "__name__", str(hint)))
