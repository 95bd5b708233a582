"""Synthetic compositional scenes for GenEval's six tasks: sample a description, render it at any size.

A ``SceneSpec`` is resolution-free (centres in [0, 1] of width/height, sizes as a fraction of the
short side), so one scene renders at 64² or 2048², square or not (``data.scene_render``).
``SceneDataset`` is the deterministic stream of scenes; ``data.scene_writer`` writes one to a folder.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
import torch

from tokenshuffle.data.geneval import (
    INVERSE_RELATION,
    ORDERED_TASKS,
    RELATIONS,
    SIDE_RELATIONS,
    TASKS,
    describe,
    relative_position,
)
from tokenshuffle.data.scene_render import NOISE_GRID, render_scene
from tokenshuffle.data.scene_style import PLAIN_GREY, TEXTURED, SceneStyle
from tokenshuffle.data.shapes import (
    BACKGROUND_BASE_RANGE,
    COLOR_NAMES,
    HARD_PAIRS,
    SHAPES,
    outline,
    placed_outline,
)
from tokenshuffle.errors import check_choice, check_range

# Object sizes (fraction of the short side) by number of objects: at 256² the smallest is 46 px.
_SIZE_RANGE = {1: (0.28, 0.5), 2: (0.22, 0.36), 3: (0.18, 0.27), 4: (0.18, 0.25)}
_GAP = 0.06  # free space between objects' bounding circles, fraction of the short side
_MARGIN = 0.03  # free space to the image border


@dataclass(frozen=True)
class SceneObject:
    shape: str
    color: str
    center: tuple[float, float]  # (x, y) as fractions of width and height
    size: float  # extent across, as a fraction of the short side
    angle: float  # rotation in degrees
    shade: int  # brightness offset added to the palette colour

    def __post_init__(self):
        check_choice("shape", self.shape, SHAPES)
        check_choice("color", self.color, COLOR_NAMES)
        check_range("size", self.size, low=0, high=1, low_open=True)


@dataclass(frozen=True)
class SceneSpec:
    """One scene: what to draw, its GenEval metadata and caption phrasings."""

    task: str
    objects: tuple[SceneObject, ...]
    metadata: dict
    captions: tuple[str, ...]  # captions[0] == metadata["prompt"]
    background: tuple[float, ...]  # base rgb (3), gradient angle, gradient amplitude, noise grid values
    aspect: float  # width / height the layout was made for

    def __post_init__(self):
        check_choice("task", self.task, TASKS)
        if not self.objects:
            raise ValueError("objects must not be empty")


def _as_rng(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, torch.Generator):
        return np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=rng)))
    if isinstance(rng, int):
        return np.random.default_rng(rng)
    raise ValueError(f"rng must be a numpy Generator, torch.Generator or int seed; got {type(rng).__name__}")


def _pick_color(rng: np.random.Generator, shape: str, holdout: frozenset) -> str:
    allowed = [c for c in COLOR_NAMES if (c, shape) not in holdout]
    return allowed[rng.integers(len(allowed))]


def _box(obj: SceneObject, aspect: float) -> tuple[float, float, float, float]:
    """Bounding box of the drawn outline in units of the image height (x runs to ``aspect``)."""
    pts = placed_outline(
        obj.shape, center=(obj.center[0] * aspect, obj.center[1]), size=obj.size * min(aspect, 1.0), angle=obj.angle
    )
    (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
    return (float(x0), float(y0), float(x1), float(y1))


def _place(rng, shapes_colors, *, aspect: float, relation: str | None, style: SceneStyle) -> list[SceneObject] | None:
    """Non-overlapping random placement; for ``position`` the first object must be ``relation`` the second."""
    num = len(shapes_colors)
    low, high = _SIZE_RANGE[num]
    short = min(aspect, 1.0)
    objects: list[SceneObject] = []
    radii: list[float] = []  # bounding-circle radius of each placed object, in height units
    for shape, color in shapes_colors:
        size = style.size(float(rng.uniform(low, high)), num_objects=num)
        r = size * short / 2 * float(np.linalg.norm(outline(shape), axis=1).max())
        for _ in range(100):
            cx = style.snapped(rng.uniform(r + _MARGIN * short, aspect - r - _MARGIN * short) / aspect) * aspect
            cy = style.snapped(rng.uniform(r + _MARGIN * short, 1 - r - _MARGIN * short))
            ok = all(
                math.hypot(cx - o.center[0] * aspect, cy - o.center[1]) >= r + ro + _GAP * short
                for o, ro in zip(objects, radii, strict=True)
            )
            if ok:
                break
        else:
            return None
        angle = float(rng.uniform(-20, 20)) if shape == "heart" else float(rng.uniform(-30, 30))
        shade = int(rng.integers(-12, 13))
        angle, shade = (angle if style.rotate else 0.0), (shade if style.shade else 0)
        objects.append(SceneObject(shape, color, (float(cx / aspect), float(cy)), size, angle, shade))
        radii.append(r)
    if relation is not None:
        # Check on boxes grown by _GAP / 2 so the relation still holds for a detector whose boxes are a
        # few pixels off (GenEval's margin grows with box size).
        grow = np.array([-1, -1, 1, 1]) * _GAP / 2 * short
        boxes = [np.asarray(_box(o, aspect)) + grow for o in objects[:2]]
        if relation not in relative_position(*boxes):
            return None
    return objects


def _background(rng: np.random.Generator, style: SceneStyle) -> tuple[float, ...]:
    """(base rgb, gradient angle, gradient amplitude, noise grid); drawn in every style, then styled."""
    base = rng.uniform(*BACKGROUND_BASE_RANGE)
    tint = rng.uniform(-7, 7, size=3)
    angle = rng.uniform(0, 2 * math.pi)
    amplitude = rng.uniform(4, 14)
    noise = rng.uniform(-5, 5, size=NOISE_GRID * NOISE_GRID)
    if style.background == "plain":
        return (PLAIN_GREY,) * 3 + (0.0, 0.0) + (0.0,) * noise.size
    return (*(base + tint).tolist(), float(angle), float(amplitude), *noise.tolist())


def sample_scene(
    *,
    task: str,
    rng,
    aspect: float = 1.0,
    holdout=HARD_PAIRS,
    exclude_prompts=frozenset(),
    style: SceneStyle = TEXTURED,
) -> SceneSpec:
    """Draw a random scene for ``task`` (one of ``TASKS``) from ``rng`` (numpy/torch generator or int seed).

    No object gets a (colour, shape) pair in ``holdout``; a scene whose GenEval prompt is in
    ``exclude_prompts`` is redrawn, and phrasings in it are dropped from the captions. ``style``
    (``data.scene_style``) sets the nuisance: background, rotation, shade and layout grid.
    """
    check_choice("task", task, TASKS)
    check_range("aspect", aspect, low=0.25, high=4.0)
    rng = _as_rng(rng)
    holdout = frozenset(tuple(p) for p in holdout)
    exclude_prompts = frozenset(exclude_prompts)
    for _ in range(1000):
        relation = None
        if task in ("single_object", "colors"):
            shape = SHAPES[rng.integers(len(SHAPES))]
            picks = [(shape, _pick_color(rng, shape, holdout))]
        elif task == "counting":
            shape = SHAPES[rng.integers(len(SHAPES))]
            picks = [(shape, _pick_color(rng, shape, holdout)) for _ in range(int(rng.integers(1, 5)))]
        else:
            i, j = rng.choice(len(SHAPES), size=2, replace=False)
            picks = [(SHAPES[i], _pick_color(rng, SHAPES[i], holdout))]
            picks.append((SHAPES[j], _pick_color(rng, SHAPES[j], holdout)))
            if task == "color_attr" and picks[0][1] == picks[1][1]:
                continue
            if task == "position":
                relation = RELATIONS[rng.integers(len(RELATIONS))]
        reading = bool(style.reading_rows) and (task in ORDERED_TASKS or relation in SIDE_RELATIONS)
        metadata, extra = describe(task, [(c, s) for s, c in picks], relation)
        if metadata["prompt"] in exclude_prompts and not reading:
            continue
        objects = _place(rng, picks, aspect=aspect, relation=relation, style=style)
        if objects is None:
            continue
        if reading:
            keys = [style.reading_key(_box(o, aspect)) for o in objects]
            if keys[1] < keys[0]:  # name the other object first: "B right of A" for "A left of B"
                objects, picks = objects[::-1], picks[::-1]
                relation = INVERSE_RELATION.get(relation)
            metadata, extra = describe(task, [(c, s) for s, c in picks], relation, any_order=False)
            if metadata["prompt"] in exclude_prompts:
                continue
        captions = [metadata["prompt"]] + [c for c in extra if c not in exclude_prompts]
        return SceneSpec(task, tuple(objects), metadata, tuple(captions), _background(rng, style), float(aspect))
    raise ValueError(f"could not sample a {task} scene: holdout/exclude_prompts leave no valid scene")


def scene_for_metadata(metadata: dict, *, rng, aspect: float = 1.0, style: SceneStyle = TEXTURED) -> SceneSpec:
    """A scene that satisfies a GenEval metadata line of this domain (e.g. an evaluation prompt).

    Unnamed colours are drawn at random; used for the evaluator's ground-truth upper bound.
    """
    rng = _as_rng(rng)
    task = metadata.get("tag")
    check_choice("metadata tag", task, TASKS)
    groups = metadata["include"]
    relation = None
    if task == "position":
        relation = groups[1]["position"][0]
        groups = [groups[1], groups[0]]  # prompt order: the placed object first, its target second
    picks = []
    for g in groups:
        check_choice("metadata class", g["class"], SHAPES)
        for _ in range(g["count"]):
            color = g.get("color") or COLOR_NAMES[rng.integers(len(COLOR_NAMES))]
            picks.append((g["class"], color))
    for _ in range(1000):
        objects = _place(rng, picks, aspect=aspect, relation=relation, style=style)
        if objects is not None:
            captions = (metadata["prompt"],)
            return SceneSpec(task, tuple(objects), dict(metadata), captions, _background(rng, style), float(aspect))
    raise ValueError(f"could not place the objects of {metadata['prompt']!r}")


def _shard() -> tuple[int, int]:
    """(this stream's shard, number of shards) over torch.distributed ranks x DataLoader workers."""
    info = torch.utils.data.get_worker_info()
    worker, num_workers = (info.id, info.num_workers) if info is not None else (0, 1)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
    else:
        rank, world = int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))
    return rank * num_workers + worker, world * num_workers


class SceneDataset(torch.utils.data.IterableDataset):
    """Infinite stream of rendered scenes: ``{"image": uint8 (3, H, W), "caption", "captions", "metadata"}``.

    Item ``i`` of the global stream depends only on (``seed``, ``i``); shard ``k`` of ``n`` (ranks x
    workers) yields items k, k+n, k+2n, ... so every rank/worker gets its own deterministic stream and
    together they cover the global stream once. ``caption`` is one of the scene's phrasings, picked per
    item (``captions`` all of them, the GenEval prompt first); ``metadata`` is the GenEval line. By
    default the evaluation prompts (both splits) never occur and the hard split's colour-shape pairs
    (``holdout``) are never drawn. ``style`` (``data.scene_style``) sets the nuisance variation.
    Each item's task is drawn uniformly from ``tasks``, so a task named twice is drawn twice as often.
    """

    def __init__(
        self,
        *,
        height: int,
        width: int,
        seed: int = 0,
        tasks=None,
        exclude_prompts=None,
        holdout=HARD_PAIRS,
        start_index: int = 0,
        style: SceneStyle = TEXTURED,
    ):
        super().__init__()
        check_range("height", height, low=16, high=4096)
        check_range("width", width, low=16, high=4096)
        check_range("start_index", start_index, low=0)
        self.tasks = tuple(tasks) if tasks is not None else TASKS
        for task in self.tasks:
            check_choice("tasks", task, TASKS)
        if exclude_prompts is None:
            from tokenshuffle.data.prompts import eval_prompt_strings

            exclude_prompts = eval_prompt_strings()
        self.height, self.width, self.seed = height, width, seed
        self.exclude_prompts = frozenset(exclude_prompts)
        self.holdout = frozenset(tuple(p) for p in holdout)
        self.start_index = start_index
        self.style = style

    def spec(self, index: int) -> SceneSpec:
        rng = np.random.default_rng([self.seed, index])
        task = self.tasks[rng.integers(len(self.tasks))]
        return sample_scene(
            task=task,
            rng=rng,
            aspect=self.width / self.height,
            holdout=self.holdout,
            exclude_prompts=self.exclude_prompts,
            style=self.style,
        )

    def sample(self, index: int) -> dict:
        """Item ``index`` of the global stream."""
        spec = self.spec(index)
        rng = np.random.default_rng([self.seed, index, 1])
        caption = spec.captions[rng.integers(len(spec.captions))]
        img = render_scene(spec, height=self.height, width=self.width)
        arr = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)  # (H, W, 3) -> (3, H, W)
        return {"image": arr.contiguous(), "caption": caption, "captions": list(spec.captions),
                "metadata": dict(spec.metadata)}

    def __iter__(self):
        shard, num_shards = _shard()
        index = self.start_index + shard
        while True:
            yield self.sample(index)
            index += num_shards
