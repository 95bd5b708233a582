"""GenEval's protocol pieces shared by the scene generator and the evaluator.

GenEval (Ghosh et al., 2023, "GenEval: An Object-Focused Framework for Evaluating Text-to-Image
Alignment") describes each prompt by a metadata line::

    {"tag": "position", "prompt": "a photo of a star left of a circle",
     "include": [{"class": "circle", "count": 1}, {"class": "star", "count": 1, "position": ["left of", 0]}]}

``include`` lists object groups that must be present (``count`` at least, optionally with a ``color``
and a ``position`` relative to an earlier group, by index); ``exclude`` lists groups that must be absent
(``count`` or more is a failure: counting prompts use it to reject too many objects). The templates below
follow GenEval's ("a photo of a ..."); extra phrasings are training captions only.
"""

from __future__ import annotations

import numpy as np

from tokenshuffle.data.shapes import NUMBER_WORDS, PLURALS

TASKS: tuple[str, ...] = ("single_object", "two_object", "counting", "colors", "position", "color_attr")
RELATIONS: tuple[str, ...] = ("left of", "right of", "above", "below")
INVERSE_RELATION = {"left of": "right of", "right of": "left of", "above": "below", "below": "above"}
# GenEval's margin: centre offsets shrink by this fraction of the summed box sizes before the
# direction is read off, so objects that merely overlap in projection are not "left of" each other.
POSITION_THRESHOLD = 0.1


def relative_position(box_a, box_b) -> set[str]:
    """Relations of box A to box B ((x0, y0, x1, y1), y down), exactly as GenEval's ``relative_position``."""
    boxes = np.asarray([box_a, box_b], dtype=np.float64).reshape(2, 2, 2)  # (object, corner, xy)
    center_a, center_b = boxes.mean(axis=1)
    dim_a, dim_b = np.abs(boxes[:, 1] - boxes[:, 0])
    offset = center_a - center_b
    revised = np.maximum(np.abs(offset) - POSITION_THRESHOLD * (dim_a + dim_b), 0) * np.sign(offset)
    if np.all(np.abs(revised) < 1e-3):
        return set()
    dx, dy = revised / np.linalg.norm(offset)
    relations = set()
    if dx < -0.5:
        relations.add("left of")
    if dx > 0.5:
        relations.add("right of")
    if dy < -0.5:
        relations.add("above")
    if dy > 0.5:
        relations.add("below")
    return relations


def _a(word: str) -> str:
    return f"a {word}"


# Captions that leave open which of their two objects comes first in the image: "and" in any order,
# and a side relation (either object may be the higher one). "above"/"below" say it themselves.
ORDERED_TASKS: tuple[str, ...] = ("two_object", "color_attr")
SIDE_RELATIONS: tuple[str, ...] = ("left of", "right of")


def describe(
    task: str, objects: list[tuple[str, str]], relation: str | None = None, *, any_order: bool = True
) -> tuple[dict, list[str]]:
    """GenEval metadata and extra caption phrasings for a scene.

    ``objects`` is the list of (color, shape) drawn, in prompt order; for ``position`` the first object
    is the one placed ``relation`` the second. Returns (metadata, other phrasings without the prompt).
    Without ``any_order`` the ``ORDERED_TASKS`` and ``SIDE_RELATIONS`` drop the phrasing that names the
    objects the other way round.
    """
    (c0, s0) = objects[0]
    if task == "single_object":
        meta = {"include": [{"class": s0, "count": 1}], "prompt": f"a photo of {_a(s0)}"}
        extra = [_a(s0), f"a {c0} {s0}", f"a picture of a {c0} {s0}", f"one {s0} on a grey background"]
    elif task == "two_object":
        (c1, s1) = objects[1]
        meta = {
            "include": [{"class": s0, "count": 1}, {"class": s1, "count": 1}],
            "prompt": f"a photo of {_a(s0)} and {_a(s1)}",
        }
        extra = [f"{_a(s0)} and {_a(s1)}", f"a {c0} {s0} and a {c1} {s1}"]
        extra += [f"a photo of {_a(s1)} and {_a(s0)}"] if any_order else []
    elif task == "counting":
        num = len(objects)
        word = NUMBER_WORDS[num]
        noun = s0 if num == 1 else PLURALS[s0]
        meta = {
            "include": [{"class": s0, "count": num}],
            "exclude": [{"class": s0, "count": num + 1}],
            "prompt": f"a photo of {word} {noun}",
        }
        extra = [f"{word} {noun}", f"{num} {noun}", f"exactly {word} {noun} on a grey background"]
    elif task == "colors":
        meta = {"include": [{"class": s0, "count": 1, "color": c0}], "prompt": f"a photo of a {c0} {s0}"}
        extra = [f"a {c0} {s0}", f"a {s0} coloured {c0}", f"a picture of a {c0} {s0}"]
    elif task == "position":
        (c1, s1) = objects[1]
        if relation not in RELATIONS:
            raise ValueError(f"relation must be one of {', '.join(RELATIONS)}; got {relation!r}")
        meta = {
            "include": [{"class": s1, "count": 1}, {"class": s0, "count": 1, "position": [relation, 0]}],
            "prompt": f"a photo of {_a(s0)} {relation} {_a(s1)}",
        }
        inverse = INVERSE_RELATION[relation]
        extra = [f"{_a(s0)} {relation} {_a(s1)}", f"a {c0} {s0} {relation} a {c1} {s1}"]
        extra += [f"a photo of {_a(s1)} {inverse} {_a(s0)}"] if any_order or relation not in SIDE_RELATIONS else []
    elif task == "color_attr":
        (c1, s1) = objects[1]
        meta = {
            "include": [{"class": s0, "count": 1, "color": c0}, {"class": s1, "count": 1, "color": c1}],
            "prompt": f"a photo of a {c0} {s0} and a {c1} {s1}",
        }
        extra = [f"a {c0} {s0} and a {c1} {s1}"]
        extra += [f"a photo of a {c1} {s1} and a {c0} {s0}"] if any_order else []
    else:
        raise ValueError(f"task must be one of {', '.join(TASKS)}; got {task!r}")
    return {"tag": task, **meta}, extra
