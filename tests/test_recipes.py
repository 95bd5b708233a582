"""Recipes ship inside the package and are found by name from anywhere; a user's own only by path."""

import os
import subprocess
import sys

import pytest

from tokenshuffle.recipes import apply_overrides
from tokenshuffle.train.config import TrainConfig, load_recipe, recipe_names


def test_shipped_recipes_are_found_by_name_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert {"smoke", "scenes-t2i-reading", "scenes-stage1", "scenes-stage2", "scenes-stage3"} <= set(recipe_names())
    assert isinstance(load_recipe("smoke"), TrainConfig)


def test_a_name_never_runs_a_file_of_the_current_directory(tmp_path):
    (tmp_path / "configs").mkdir()
    planted = "raise SystemExit('the planted recipe ran')\n"
    (tmp_path / "configs" / "lm_smoke.py").write_text(planted)
    (tmp_path / "lm_smoke.py").write_text(planted)
    (tmp_path / "smoke.py").write_text(planted)
    code = "from tokenshuffle.train.config import load_recipe; print(load_recipe('smoke').data)"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": ""})
    assert out.returncode == 0 and out.stdout.strip() == "random", out.stderr


def test_a_users_recipe_runs_from_an_explicit_path(tmp_path):
    path = tmp_path / "my_recipe.py"
    path.write_text("from tokenshuffle.train.config import TrainConfig\nCONFIG = TrainConfig(data='random', "
                    "num_steps=7)\n")
    assert load_recipe(str(path)).num_steps == 7
    with pytest.raises(ValueError, match="no such file"):
        load_recipe(str(tmp_path / "missing.py"))
    (tmp_path / "bad.py").write_text("CONFIG = 3\n")
    with pytest.raises(ValueError, match="must define CONFIG = TrainConfig"):
        load_recipe(str(tmp_path / "bad.py"))
    with pytest.raises(ValueError, match="no such recipe; available: .*smoke"):
        load_recipe("my_recipe")


@pytest.mark.parametrize("assignment, needle", [
    ("num_steps=2.5", "'num_steps' must be an integer, got 2.5"),
    ("betas=abc", "'betas' must be a list of 2 values"),
    ("lr=fast", "--set lr: expected a number"),
    ("nope=1", "--set nope: unknown setting"),
    ("lm.qk_norm=2", "--set lm.qk_norm: expected true or false"),
])
def test_overrides_of_the_wrong_kind_name_the_key(assignment, needle):
    with pytest.raises(ValueError, match=needle.replace("(", "\\(").replace(")", "\\)")):
        load_recipe("smoke").override([assignment])
    assert apply_overrides({"a": 1}, ["a=2"]) == {"a": 2}
