"""Finding named recipes and applying ``--set key=value`` overrides, for ``tokenshuffle train`` and
``train-vq``. The recipes ship inside the package beside their trainers (``tokenshuffle.train.recipes``:
``lm_<name>.py``; ``tokenshuffle.vq.recipes``: ``vq_<name>.py``), each defining ``CONFIG``.

A name (``--config scenes-t2i-reading``) resolves only to a recipe of that package, from any working
directory and in any install; a user's own recipe runs only from an explicit path to a ``.py`` file
(``--config ./my_recipe.py``). This module imports no trainer: the package is named by its caller.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import pkgutil
from pathlib import Path


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


def recipe_names(package: str, prefix: str) -> list[str]:
    """The names of the ``<prefix>_*`` recipes in ``package``, dashes for underscores."""
    head = f"{prefix}_"
    path = importlib.import_module(package).__path__
    return sorted(m.name[len(head):].replace("_", "-") for m in pkgutil.iter_modules(path) if m.name.startswith(head))


def _is_path(name: str) -> bool:
    return name.endswith(".py") or "/" in name or "\\" in name


def _load_file(path: Path, *, prefix: str):
    if not path.is_file():
        raise ValueError(f"--config {path}: no such file")
    spec = importlib.util.spec_from_file_location(f"{prefix}_recipe_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_recipe(name: str, *, package: str, prefix: str, cls):
    """A shipped recipe's ``CONFIG`` by name (from ``package``), or a user's from an explicit ``.py`` path;
    checked to be a ``cls``."""
    if _is_path(name):
        module = _load_file(Path(name), prefix=prefix)
    elif name.replace("-", "_") in {n.replace("-", "_") for n in recipe_names(package, prefix)}:
        module = importlib.import_module(f"{package}.{prefix}_{name.replace('-', '_')}")
    else:
        available = ", ".join(recipe_names(package, prefix)) or "none"
        raise ValueError(f"--config {name}: no such recipe; available: {available} (or a path to your own .py file)")
    config = getattr(module, "CONFIG", None)
    if not isinstance(config, cls):
        raise ValueError(f"--config {name}: {module.__file__} must define CONFIG = {cls.__name__}(...)")
    return config
