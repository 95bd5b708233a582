"""``write_scenes``: the first items of a ``SceneDataset`` rendered into an image-caption folder."""

from __future__ import annotations

import dataclasses

from tokenshuffle.data.scene_render import render_scene
from tokenshuffle.data.scene_style import TEXTURED, SceneStyle
from tokenshuffle.data.scenes import SceneDataset, SceneSpec
from tokenshuffle.errors import check_range


def _render_item(args: tuple[SceneDataset, int]) -> tuple[SceneSpec, bytes]:
    from tokenshuffle.data.folder import encode_png

    dataset, index = args
    spec = dataset.spec(index)
    return spec, encode_png(render_scene(spec, height=dataset.height, width=dataset.width))


def write_scenes(
    *,
    num: int,
    height: int,
    width: int,
    seed: int,
    out,
    tasks=None,
    num_workers: int = 1,
    progress: bool = True,
    style: SceneStyle = TEXTURED,
) -> dict:
    """Write the first ``num`` items of ``SceneDataset(seed=seed)`` in the folder format; returns a summary.

    ``num_workers`` > 1 renders in that many processes (worth it for long runs on idle cores: each
    worker pays a few seconds of start-up); the output does not depend on it.
    """
    import multiprocessing

    from tqdm import tqdm

    from tokenshuffle.data.folder import FolderWriter

    check_range("num", num, low=1)
    check_range("num_workers", num_workers, low=1)
    dataset = SceneDataset(height=height, width=width, seed=seed, tasks=tasks, style=style)
    jobs = ((dataset, i) for i in range(num))
    counts: dict[str, int] = {}
    pool = multiprocessing.get_context("spawn").Pool(num_workers) if num_workers > 1 and num > 64 else None
    try:
        rendered = pool.imap(_render_item, jobs, chunksize=16) if pool else map(_render_item, jobs)
        with FolderWriter(out) as writer:
            for index, (spec, png) in enumerate(
                tqdm(rendered, total=num, desc="scenes", unit="img", disable=not progress)
            ):
                writer.add_encoded(
                    png,
                    caption=spec.captions[0],
                    captions=list(spec.captions),
                    metadata=dict(spec.metadata),
                    source="tokenshuffle-scenes",
                    license="CC0-1.0",
                    seed=seed,
                    index=index,
                    style=dataclasses.asdict(style),
                )
                counts[spec.task] = counts.get(spec.task, 0) + 1
    finally:
        if pool is not None:
            pool.close()
            pool.join()
    return {"num_images": num, "per_task": counts, "out": str(out)}
