"""Named recipes (``configs/<prefix>_<name>.py`` defining ``CONFIG``) and ``--set key=value`` overrides.

Shared by ``tokenshuffle train`` (prefix ``lm``) and ``tokenshuffle train-vq`` (prefix ``vq``).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from pathlib import Path

CONFIG_DIRS = (Path.cwd() / "configs", Path(__file__).resolve().parents[2] / "configs")


def check_fields(cls, d: dict, *, what: str) -> None:
    """ValueError listing any key of ``d`` that is not a field of the dataclass ``cls``."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ValueError(f"unknown {what} fields {unknown}; valid: {sorted(names)}")


def apply_overrides(d: dict, assignments: list[str]) -> dict:
    """Apply ``key=value`` (``group.key=value`` for nested settings) to a config dict, in place.

    Values are JSON (numbers, lists, true/false) or plain strings; a value of the wrong kind for a
    numeric or boolean setting is refused with a message naming the key.
    """
    for item in assignments:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--set expects key=value, got {item!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        target, parts = d, key.split(".")
        for part in parts[:-1]:
            if not isinstance(target.get(part), dict):
                groups = sorted(k for k, v in target.items() if isinstance(v, dict))
                raise ValueError(f"--set {key}: {part!r} is not a group of settings (groups: {groups})")
            target = target[part]
        if parts[-1] not in target:
            raise ValueError(f"--set {key}: unknown setting; valid: {', '.join(sorted(target))}")
        old = target[parts[-1]]
        if isinstance(old, (int, float)) and not isinstance(old, bool) and isinstance(value, str):
            raise ValueError(f"--set {key}: expected a number, got {raw!r}")
        if isinstance(old, bool) and not isinstance(value, bool):
            raise ValueError(f"--set {key}: expected true or false, got {raw!r}")
        target[parts[-1]] = value
    return d


def recipe_names(prefix: str) -> list[str]:
    names = set()
    for d in CONFIG_DIRS:
        names |= {p.stem[len(prefix) + 1 :].replace("_", "-") for p in d.glob(f"{prefix}_*.py")}
    return sorted(names)


def load_recipe(name: str, *, prefix: str, cls):
    """``configs/<prefix>_<name>.py``'s ``CONFIG`` (or a path to such a file), checked to be a ``cls``."""
    path = Path(name)
    if path.suffix != ".py":
        candidates = [d / f"{prefix}_{name.replace('-', '_')}.py" for d in CONFIG_DIRS]
        path = next((p for p in candidates if p.is_file()), candidates[0])
    if not path.is_file():
        available = ", ".join(recipe_names(prefix)) or "none"
        raise ValueError(f"--config {name}: no such recipe; available: {available}")
    spec = importlib.util.spec_from_file_location(f"{prefix}_recipe_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    config = getattr(module, "CONFIG", None)
    if not isinstance(config, cls):
        raise ValueError(f"--config {name}: {path} must define CONFIG = {cls.__name__}(...)")
    return config
