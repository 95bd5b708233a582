"""GenEval-protocol evaluation of images of the synthetic scenes (``tokenshuffle.data.scenes``).

No pretrained detector can be used here, so objects are found by rules that know the scene domain.

Detection rules (``detect``):

1. The image is converted to RGB and resized so its short side is ``WORK_SIDE`` (256) pixels; all
   thresholds below are in those pixels, so the result does not depend on the input resolution.
2. Background: a pixel whose saturation (max - min channel) is below ``BACKGROUND_MAX_SATURATION``
   (48) and whose mean channel value lies in ``BACKGROUND_MEAN_RANGE`` (62..198) is background (the
   scenes' background is a low-saturation mid grey); every other pixel is foreground. The foreground
   mask gets a 3x3 morphological opening to drop speckle.
3. Objects: 8-connected components of the foreground with at least ``MIN_AREA_FRACTION`` (0.3%) of
   the image area; smaller ones are noise.
4. Colour: the component is eroded by 2 px (to drop anti-aliased edge pixels, which are blends with
   the background), the median RGB of what is left (or of the whole component if nothing is) is
   taken, and the nearest of GenEval's ten colours (``data.shapes.COLORS``, Euclidean RGB) is the
   object's colour.
5. Shape: from the component's centroid, the outermost boundary radius is measured in 64 angular
   bins, r(theta), and normalised by its mean. Features: the fill ratio (area / pi max(r)^2) and
   the magnitudes of the Fourier harmonics 1..8 of r(theta), all rotation- and scale-invariant
   (a triangle has strong harmonic 3, a square 4, a star 5, a hexagon a weak 6, a circle none,
   a heart 1 and 2). The class is the nearest reference vector (one per shape and rotation,
   computed from this package's own clean renders); a component farther than ``MAX_SHAPE_DISTANCE``
   from every reference is not a shape and is ignored.
6. Each object gets its bounding box; objects of a class are ranked by area (GenEval ranks by
   detector confidence).

Scoring (``score``) follows GenEval's ``evaluate_images.py`` exactly: for each ``include`` group the
top-``count`` objects of its class must exist, ``count`` of them must have the requested ``color``,
and, for ``position: [relation, i]``, every one of them must stand in ``relation`` to every object
matched by group ``i`` (``data.geneval.relative_position``: centre offset minus 0.1 x the summed
box sizes, then the direction must be dominant); for each ``exclude`` group there must be fewer than
``count`` objects of its class. A prompt is correct only if every rule holds. Accuracy is computed
per task (the metadata ``tag``) and "overall" is the mean over the tasks present.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageFilter

from tokenshuffle.data.folder import CAPTIONS_FILE, read_records
from tokenshuffle.data.geneval import TASKS, relative_position
from tokenshuffle.data.images import IMAGE_EXTENSIONS
from tokenshuffle.data.shapes import (
    BACKGROUND_MAX_SATURATION,
    BACKGROUND_MEAN_RANGE,
    COLOR_NAMES,
    COLORS,
    SHAPES,
)

WORK_SIDE = 256
MIN_AREA_FRACTION = 0.003
MAX_SHAPE_DISTANCE = 0.6
_NUM_BINS = 64
_NUM_HARMONICS = 8
_PALETTE = np.array([COLORS[c] for c in COLOR_NAMES], dtype=np.float32)  # (10, 3)


@dataclass(frozen=True)
class Detection:
    shape: str
    color: str
    box: tuple[float, float, float, float]  # (x0, y0, x1, y1) in working-resolution pixels
    area: int
    distance: float  # to the nearest shape reference; smaller is more certain


def _working_image(img) -> np.ndarray:
    if not isinstance(img, Image.Image):
        raise ValueError(f"images must be PIL images, paths or (3, H, W) uint8 tensors; got {type(img).__name__}")
    img = img.convert("RGB")
    scale = WORK_SIDE / min(img.size)
    if scale != 1:
        size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
        img = img.resize(size, Image.BOX if scale < 1 else Image.BILINEAR)
    return np.asarray(img, dtype=np.float32)  # (H, W, 3)


def _foreground(arr: np.ndarray) -> np.ndarray:
    mean = arr.mean(axis=2)
    sat = arr.max(axis=2) - arr.min(axis=2)
    low, high = BACKGROUND_MEAN_RANGE
    background = (sat < BACKGROUND_MAX_SATURATION) & (mean > low) & (mean < high)
    mask = Image.fromarray(np.where(background, 0, 255).astype(np.uint8))
    mask = mask.filter(ImageFilter.MinFilter(3)).filter(ImageFilter.MaxFilter(3))
    return np.asarray(mask) > 0


def _label(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """8-connected components by run-length union-find; returns (labels (H, W) with 0 = none, count)."""
    height, width = mask.shape
    padded = np.zeros((height, width + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    edges = np.diff(padded, axis=1)  # (H, W + 1): +1 where a run starts, -1 one past where it ends
    rows, starts = np.nonzero(edges == 1)
    _, ends = np.nonzero(edges == -1)
    parent = list(range(len(rows)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    row_first = np.searchsorted(rows, np.arange(height + 1))
    for y in range(1, height):
        i, i_end = int(row_first[y - 1]), int(row_first[y])
        j, j_end = i_end, int(row_first[y + 1])
        while i < i_end and j < j_end:
            # Runs [s, e) on neighbouring rows touch (diagonals included) when s_a <= e_b and s_b <= e_a.
            if starts[i] <= ends[j] and starts[j] <= ends[i]:
                ri, rj = find(i), find(j)
                if ri != rj:
                    parent[max(ri, rj)] = min(ri, rj)
            if ends[i] < ends[j]:
                i += 1
            else:
                j += 1
    labels = np.zeros((height, width), dtype=np.int32)
    roots: dict[int, int] = {}
    for k in range(len(rows)):
        label = roots.setdefault(find(k), len(roots) + 1)
        labels[rows[k], starts[k] : ends[k]] = label
    return labels, len(roots)


def shape_features(mask: np.ndarray) -> np.ndarray:
    """Rotation/scale-invariant features of a binary mask: [fill ratio, |harmonic 1..8| of r(theta)]."""
    ys, xs = np.nonzero(mask)
    cy, cx = ys.mean(), xs.mean()
    dy, dx = ys - cy, xs - cx
    radius = np.hypot(dx, dy) + 0.5  # +0.5: to the pixel's outer edge, not its centre
    bins = ((np.arctan2(dy, dx) + np.pi) / (2 * np.pi) * _NUM_BINS).astype(int) % _NUM_BINS
    r = np.zeros(_NUM_BINS)
    np.maximum.at(r, bins, radius)
    filled = r > 0
    if not filled.all():
        # Tiny masks leave angular bins empty; interpolate them around the circle.
        idx = np.arange(_NUM_BINS)
        r = np.interp(idx, idx[filled], r[filled], period=_NUM_BINS)
    spectrum = np.abs(np.fft.rfft(r / r.mean()))[1 : _NUM_HARMONICS + 1] / _NUM_BINS
    fill = len(xs) / (np.pi * r.max() ** 2)
    return np.concatenate([[fill], 4 * spectrum])


@lru_cache(maxsize=1)
def _references() -> tuple[np.ndarray, tuple[str, ...]]:
    """Feature vectors of clean renders of every shape at several rotations (and their labels)."""
    from PIL import ImageDraw

    from tokenshuffle.data.shapes import placed_outline

    feats, labels = [], []
    for shape in SHAPES:
        for angle in np.linspace(-30, 30, 7):
            canvas = Image.new("L", (400, 400), 0)
            pts = placed_outline(shape, center=(200, 200), size=360, angle=float(angle))
            ImageDraw.Draw(canvas).polygon([tuple(p) for p in pts.tolist()], fill=255)
            small = np.asarray(canvas.resize((100, 100), Image.BOX)) > 127
            feats.append(shape_features(small))
            labels.append(shape)
    return np.stack(feats), tuple(labels)


def classify_shape(mask: np.ndarray) -> tuple[str, float]:
    """(nearest shape class, its feature distance) for a binary mask."""
    refs, labels = _references()
    dist = np.linalg.norm(refs - shape_features(mask)[None, :], axis=1)
    best = int(dist.argmin())
    return labels[best], float(dist[best])


def _color_of(arr: np.ndarray, mask: np.ndarray) -> str:
    inner = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).filter(ImageFilter.MinFilter(5))) > 0
    pixels = arr[inner] if inner.sum() >= 10 else arr[mask]
    median = np.median(pixels, axis=0)
    return COLOR_NAMES[int(np.linalg.norm(_PALETTE - median[None, :], axis=1).argmin())]


def detect(img: Image.Image) -> list[Detection]:
    """All objects in ``img`` found by the rules in the module docstring, largest first."""
    arr = _working_image(img)
    labels, num = _label(_foreground(arr))
    min_area = MIN_AREA_FRACTION * labels.size
    found = []
    for label in range(1, num + 1):
        ys, xs = np.nonzero(labels == label)
        if len(ys) < min_area:
            continue
        y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
        mask = labels[y0:y1, x0:x1] == label
        shape, distance = classify_shape(np.pad(mask, 3))
        if distance > MAX_SHAPE_DISTANCE:
            continue
        color = _color_of(arr[y0:y1, x0:x1], mask)
        found.append(Detection(shape, color, (float(x0), float(y0), float(x1), float(y1)), len(ys), distance))
    return sorted(found, key=lambda d: -d.area)


def score(detections: list[Detection], metadata: dict) -> tuple[bool, str]:
    """GenEval's rules applied to ``detections`` for one metadata line; returns (correct, reason)."""
    by_class: dict[str, list[Detection]] = {}
    for det in detections:
        by_class.setdefault(det.shape, []).append(det)
    correct, reasons, matched_groups = True, [], []
    for req in metadata.get("include", []):
        name, count = req["class"], req["count"]
        found = by_class.get(name, [])[:count]
        matched = True
        if len(found) < count:
            matched = False
            reasons.append(f"expected {name}>={count}, found {len(found)}")
        else:
            if "color" in req:
                colors = [d.color for d in found]
                if colors.count(req["color"]) < count:
                    matched = False
                    reasons.append(f"expected {req['color']} {name}>={count}, found {colors}")
            if "position" in req and matched:
                relation, target = req["position"]
                if matched_groups[target] is None:
                    matched = False
                    reasons.append(f"no target for {name} to be {relation}")
                else:
                    for det in found:
                        if not matched:
                            break
                        for other in matched_groups[target]:
                            actual = relative_position(det.box, other.box)
                            if relation not in actual:
                                matched = False
                                reasons.append(f"expected {name} {relation} target, found {sorted(actual)}")
                                break
        correct &= matched
        matched_groups.append(found if matched else None)
    for req in metadata.get("exclude", []):
        name, count = req["class"], req["count"]
        if len(by_class.get(name, [])) >= count:
            correct = False
            reasons.append(f"expected {name}<{count}, found {len(by_class[name])}")
    return correct, "; ".join(reasons)


def summarize(results: list[dict]) -> dict:
    """Per-task accuracy (tasks in GenEval's order first) and their mean, "overall"."""
    per_task: dict[str, list[bool]] = {}
    for r in results:
        per_task.setdefault(r["tag"], []).append(r["correct"])
    order = [t for t in TASKS if t in per_task] + sorted(t for t in per_task if t not in TASKS)
    accuracy = {t: float(np.mean(per_task[t])) for t in order}
    return {
        "overall": float(np.mean(list(accuracy.values()))) if accuracy else 0.0,
        "per_task": accuracy,
        "num_per_task": {t: len(per_task[t]) for t in order},
        "num_images": len(results),
        "num_correct": int(sum(r["correct"] for r in results)),
        "results": results,
    }


def _to_pil(item) -> Image.Image:
    if isinstance(item, Image.Image):
        return item
    if isinstance(item, str | Path):
        if not Path(item).is_file():
            raise FileNotFoundError(f"no such image: {item}")
        with Image.open(item) as img:
            return img.convert("RGB")
    if isinstance(item, torch.Tensor) and item.dim() == 3 and item.shape[0] == 3:
        arr = item.detach().cpu()
        if arr.is_floating_point():
            arr = (arr.clamp(0, 1) * 255).round()  # float images are taken to be in [0, 1]
        return Image.fromarray(arr.to(torch.uint8).permute(1, 2, 0).numpy())  # (3, H, W) -> (H, W, 3)
    raise ValueError(f"images must be PIL images, paths or (3, H, W) tensors; got {type(item).__name__}")


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def pair_inputs(images, metadata=None) -> list[tuple[str, object, dict]]:
    """Match images with metadata lines: returns [(name, image or path, GenEval metadata), ...].

    ``images`` is a folder or a list (PIL images, paths, tensors); ``metadata`` is a JSONL path or a list
    of dicts. Lines with a ``file`` and a ``metadata`` key (the folder format's ``captions.jsonl``) are
    matched by file name relative to the folder; plain GenEval lines are matched in order, sorted file
    names for a folder, with ``len(images) / len(metadata)`` consecutive images per line (GenEval
    samples several images per prompt). Without ``metadata``, ``FOLDER/captions.jsonl`` is used.
    """
    folder = Path(images) if isinstance(images, str | Path) else None
    if folder is not None and not folder.is_dir():
        raise FileNotFoundError(f"--images is not a folder: {folder}")
    if metadata is None:
        if folder is None or not (folder / CAPTIONS_FILE).is_file():
            raise ValueError("metadata is required unless images is a folder with captions.jsonl")
        metadata = folder / CAPTIONS_FILE
    records = read_records(metadata) if isinstance(metadata, str | Path) else list(metadata)
    if not records:
        raise ValueError("metadata has no lines")
    if all("file" in r and "metadata" in r for r in records):
        if folder is None:
            raise ValueError("metadata with 'file' keys needs images to be a folder")
        return [(r["file"], folder / r["file"], r["metadata"]) for r in records]
    items = _image_files(folder) if folder is not None else list(images)
    names = [str(p.relative_to(folder)) for p in items] if folder is not None else [str(i) for i in range(len(items))]
    if not items or len(items) % len(records):
        raise ValueError(
            f"number of images ({len(items)}) must be a positive multiple of metadata lines ({len(records)})"
        )
    per_line = len(items) // len(records)
    return [(names[i], items[i], records[i // per_line]) for i in range(len(items))]


def evaluate(images, metadata=None, *, progress: bool = False) -> dict:
    """Score images against GenEval metadata; see ``pair_inputs`` for the accepted inputs.

    Returns ``{"overall", "per_task": {tag: accuracy}, "num_per_task", "num_images", "num_correct",
    "results": [{"file", "tag", "prompt", "correct", "reason"}, ...]}``.
    """
    from tqdm import tqdm

    results = []
    for name, item, meta in tqdm(pair_inputs(images, metadata), desc="eval scenes", disable=not progress):
        correct, reason = score(detect(_to_pil(item)), meta)
        results.append(
            {
                "file": name,
                "tag": meta.get("tag", "unknown"),
                "prompt": meta.get("prompt", ""),
                "correct": bool(correct),
                "reason": reason,
            }
        )
    return summarize(results)
