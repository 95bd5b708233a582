"""The layout's one rule that code can break silently: inference and evaluation never import training.

Only ``train/`` (the LM recipes included: they live in ``train/recipes/``), ``cli/`` and ``bench.py``
may import ``tokenshuffle.train``; the dynamic check shows importing everything else loads none of it.
"""

import ast
import subprocess
import sys
from pathlib import Path

import tokenshuffle

SRC = Path(tokenshuffle.__file__).parent
ALLOWED = ("train/", "cli/", "bench.py")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


def offenders(root: Path) -> list[str]:
    bad = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(ALLOWED):
            continue
        hits = sorted(n for n in _imports(path) if n == "tokenshuffle.train" or n.startswith("tokenshuffle.train."))
        bad += [f"{rel} imports {n}" for n in hits]
    return bad


def test_no_module_outside_training_and_the_cli_imports_training():
    assert offenders(SRC) == []


def test_the_check_sees_an_import_of_training(tmp_path):
    (tmp_path / "eval").mkdir()
    (tmp_path / "eval" / "x.py").write_text("def f():\n    from tokenshuffle.train.step import lm_loss\n")
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "y.py").write_text("import tokenshuffle.train.loop\n")
    assert offenders(tmp_path) == ["eval/x.py imports tokenshuffle.train.step", "eval/x.py imports "
                                   "tokenshuffle.train.step.lm_loss"]


def test_importing_every_inference_and_evaluation_module_loads_no_training_code():
    modules = sorted(
        "tokenshuffle." + p.relative_to(SRC).with_suffix("").as_posix().replace("/", ".").removesuffix(".__init__")
        for p in SRC.rglob("*.py") if not p.relative_to(SRC).as_posix().startswith(ALLOWED)
    )
    code = ("import importlib, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            "print(sorted(m for m in sys.modules if m.startswith('tokenshuffle.train')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
