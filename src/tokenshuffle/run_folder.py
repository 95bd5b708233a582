"""The one resume convention of ``train`` and ``train-vq``.

* Without ``--resume`` a run folder that already holds a run (its checkpoints, log or config) is
  refused, so two runs never mix in one folder and nothing is overwritten by accident.
* With ``--resume`` the run continues from its newest checkpoint that verifies; a folder with no
  checkpoint yet (a run killed before its first save, or a new folder) starts from step 0, so a
  preemptible job can always pass ``--resume``.
* Settings changed since the checkpoint (``--set``) are all applied from the resume point on and
  recorded: one line on stderr, an ``event: resume`` record in the run's log listing each change, and
  the run's config file rewritten to what is now in effect. Settings the checkpoint's weights fix
  (the model's architecture, where its first weights came from) cannot be applied, so a change there
  is refused in one line that names the keys; nothing is ignored silently.
"""

from __future__ import annotations

from pathlib import Path


def as_lists(v):
    """Tuples as lists at every depth, as a JSON round trip gives them: ((64, 64, 4),) -> [[64, 64, 4]]."""
    return [as_lists(x) for x in v] if isinstance(v, (list, tuple)) else v


def flatten(d: dict, prefix: str = "") -> dict:
    """{"lm": {"dim": 64}} -> {"lm.dim": 64}; lists and tuples compare as lists, nested ones too."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = as_lists(v)
    return out


def changed_settings(saved: dict, current: dict) -> dict[str, tuple]:
    """{dotted key: (value at the checkpoint, value now)} for every setting both know that differs. A
    setting added to the code since the checkpoint was written is not a change (it has its default)."""
    a, b = flatten(saved), flatten(current)
    return {k: (a[k], b[k]) for k in sorted(set(a) & set(b)) if a[k] != b[k]}


def refuse_fixed(changes: dict[str, tuple], *, fixed: tuple[str, ...], checkpoint: Path) -> None:
    """ValueError naming every changed key that is, or lies under, one of ``fixed``."""
    bad = [k for k in changes if any(k == f or k.startswith(f + ".") for f in fixed)]
    if bad:
        shown = ", ".join(f"{k} ({changes[k][0]!r} -> {changes[k][1]!r})" for k in bad)
        raise ValueError(f"--resume: {shown} cannot change when resuming from {checkpoint} (its weights fix "
                         f"{', '.join(fixed)}); drop those --set, or start a new run in another --out")


def describe_changes(changes: dict[str, tuple]) -> str:
    return ", ".join(f"{k} {old!r} -> {new!r}" for k, (old, new) in changes.items())


def refuse_started(out: Path, markers: tuple[str, ...]) -> None:
    """ValueError if ``out`` holds any of ``markers`` (what a run writes); called when --resume is not given."""
    found = [m for m in markers if (out / m).exists()]
    if found:
        raise ValueError(f"--out {out} already holds a run ({', '.join(found)}); pass --resume to continue it, "
                         "or choose another --out")
