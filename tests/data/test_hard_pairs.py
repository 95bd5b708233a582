"""The hard split's colour-shape pairs are never drawn in any training data: every scene generator, every
style and size, and every path from a recipe to its scenes (LM and tokenizer alike)."""

import ast
from pathlib import Path

import pytest

import tokenshuffle
from tokenshuffle.data.geneval import TASKS
from tokenshuffle.data.scene_style import STYLES
from tokenshuffle.data.scenes import SceneDataset, sample_scene
from tokenshuffle.data.shapes import HARD_PAIRS

SRC = Path(tokenshuffle.__file__).parent
HARD = set(HARD_PAIRS)


@pytest.mark.parametrize("style", sorted(STYLES))
@pytest.mark.parametrize("size", [(64, 64), (32, 64), (64, 32)])
def test_no_style_or_size_of_the_scene_stream_draws_a_hard_pair(style, size):
    ds = SceneDataset(height=size[0], width=size[1], seed=len(style) + size[1], tasks=TASKS, style=STYLES[style])
    drawn = {(o.color, o.shape) for i in range(300) for o in ds.spec(i).objects}
    assert not drawn & HARD, f"{style} {size}: {sorted(drawn & HARD)}"
    assert len(drawn) > 30  # the stream does vary its pairs: the check above is not vacuous


def test_every_task_draws_hard_shapes_and_hard_colours_but_never_together():
    pairs = {(o.color, o.shape) for t in TASKS for i in range(150) for o in sample_scene(task=t, rng=i).objects}
    assert not pairs & HARD
    assert {c for c, _ in HARD} <= {c for c, _ in pairs} and {s for _, s in HARD} <= {s for _, s in pairs}


def _calls(name: str):
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == name:
                yield path.relative_to(SRC), node


def test_no_code_path_overrides_the_holdout():
    """Every scene any command renders (``data scenes``, on-the-fly ``data=scenes`` for ``train`` and
    ``train-vq``, the evaluator's checks) comes from SceneDataset or sample_scene with its default
    ``holdout=HARD_PAIRS``: no caller passes another."""
    sites = [(path, node) for name in ("SceneDataset", "sample_scene") for path, node in _calls(name)]
    assert len(sites) >= 4  # data scenes' writer, the LM's on-the-fly codes, train-vq's scenes, the dataset
    passing = [f"{path}:{node.lineno}" for path, node in sites for k in node.keywords
               if k.arg == "holdout" and ast.unparse(k.value) != "self.holdout"]  # SceneDataset passing its own on
    passing += [f"{path}:{node.lineno} (**kwargs)" for path, node in sites if any(k.arg is None for k in node.keywords)]
    assert not passing, f"these calls choose their own holdout: {passing}"


# The emoji model's recipes: a separate model on the emoji and clipart packages (whose drawings include a
# "blue heart"), never scored on the scene prompts; no scene recipe may read its data, tokenizer or weights.
EMOJI_RECIPES = {"emoji": "lm_emoji.py", "emoji-f8": "vq_emoji_f8.py"}


def test_every_recipe_trains_on_scenes_or_on_folders_the_scene_writer_made():
    """A scene recipe's data is on-the-fly scenes (SceneDataset, above) or a folder; the recipe docstrings
    make every scene folder they name with ``tokenshuffle data scenes`` (the writer above), never another
    tool; nothing of the emoji model (data, tokenizer, weights) reaches a scene recipe."""
    from tokenshuffle.train.config import load_recipe as load_lm_recipe
    from tokenshuffle.train.config import recipe_names as lm_names
    from tokenshuffle.vq.train_config import load_recipe as load_vq_recipe
    from tokenshuffle.vq.train_config import recipe_names as vq_names

    names = {n: load_lm_recipe(n) for n in lm_names()} | {n: load_vq_recipe(n) for n in vq_names()}
    assert set(EMOJI_RECIPES) <= set(names) and len(names) > 10
    for name, cfg in names.items():
        data = cfg.data
        assert data in ("scenes", "random") or data.startswith("data/"), data
        images = getattr(cfg, "code_factor_images", "")  # images measured for the code factors: scene folders too
        assert not images or images.startswith("data/scenes-"), (name, images)
        paths = [cfg.data, getattr(cfg, "eval_data", ""), getattr(cfg, "vq", ""), getattr(cfg, "init_from", ""), images]
        if name in EMOJI_RECIPES:
            assert "emoji" in cfg.data, (name, cfg.data)
        else:
            assert not any("emoji" in str(p) for p in paths), (name, paths)
    docs = "\n".join(p.read_text(encoding="utf-8") for d in ("train/recipes", "vq/recipes")
                     for p in (SRC / d).glob("*.py") if p.name not in EMOJI_RECIPES.values())
    assert "tokenshuffle data scenes" in docs
    assert "data emoji" not in docs and "data words --data data/emoji" not in docs  # no other image source
