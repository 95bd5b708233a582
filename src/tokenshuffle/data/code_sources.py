"""Code sources: what training, held-out scoring and benchmarks read image codes and captions from.

A ``CodeSource`` has ``num_samples`` and ``get(indices) -> (phrasings, codes (B, h, w))``, where each
item's phrasings are its captions, the GenEval prompt first: random codes (tests, benchmarks), scenes
rendered and VQ-encoded on the fly, or code shards written by ``tokenshuffle encode``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import torch

from tokenshuffle.errors import check_choice
from tokenshuffle.vq.data import to_float


class CodeSource(Protocol):
    num_samples: int | None  # None: an unbounded stream of items indexed 0, 1, 2, ...

    def get(self, indices: list[int]) -> tuple[list[tuple[str, ...]], torch.Tensor]: ...


def first_captions(phrasings: list[tuple[str, ...]]) -> list[str]:
    """The GenEval prompt of each item (its first phrasing): what held-out scoring uses."""
    return [p[0] for p in phrasings]


class RandomCodes:
    """Uniformly random codes with a short caption: tests and benchmarks without a tokenizer."""

    def __init__(self, *, grid: tuple[int, int], vocab_size: int, seed: int = 0, num_samples: int | None = None):
        self.grid, self.vocab_size, self.seed, self.num_samples = grid, vocab_size, seed, num_samples

    def get(self, indices: list[int]) -> tuple[list[tuple[str, ...]], torch.Tensor]:
        codes = [torch.randint(0, self.vocab_size, self.grid, generator=torch.Generator().manual_seed(
            self.seed * 1_000_003 + i)) for i in indices]
        return [(f"item {i}", f"number {i}") for i in indices], torch.stack(codes)  # (B, h, w)


class SceneCodes:
    """Synthetic scenes rendered and VQ-encoded on the fly (small runs); finite sets are memoised.

    ``style`` names a ``data.scene_style.STYLES`` entry ("textured", "canonical" or "fixed").
    """

    def __init__(self, vq, *, height: int, width: int, seed: int = 0, num_samples: int | None = None,
                 style: str = "textured"):
        from tokenshuffle.data.scene_style import STYLES
        from tokenshuffle.data.scenes import SceneDataset

        check_choice("style", style, STYLES)
        self.scenes = SceneDataset(height=height, width=width, seed=seed, style=STYLES[style])
        self.vq, self.num_samples = vq, num_samples
        self.memo: dict[int, tuple[tuple[str, ...], torch.Tensor]] = {}

    @torch.no_grad()
    def get(self, indices: list[int]) -> tuple[list[tuple[str, ...]], torch.Tensor]:
        todo = [i for i in dict.fromkeys(indices) if i not in self.memo]
        fresh: dict[int, tuple[tuple[str, ...], torch.Tensor]] = {}
        if todo:
            items = [self.scenes.sample(i) for i in todo]
            images = to_float(torch.stack([it["image"] for it in items]))  # (B, 3, H, W) in [-1, 1]
            device = next(self.vq.parameters()).device
            codes = self.vq.encode(images.to(device)).cpu()  # (B, h, w)
            fresh = {i: (tuple(it["captions"]), c) for i, it, c in zip(todo, items, codes, strict=True)}
            if self.num_samples:
                self.memo.update(fresh)
        pairs = [fresh[i] if i in fresh else self.memo[i] for i in indices]
        return [p[0] for p in pairs], torch.stack([p[1] for p in pairs])  # (B, h, w)


class PromptSceneCodes:
    """Ground-truth scenes of GenEval prompts (``data.scenes.scene_for_metadata``), rendered and VQ-encoded:
    item ``i`` draws prompt ``i % len(prompts)`` from its own seed, so a held-out prompt set (``hard``, ``val``)
    can be scored as codes. ``object_mask(indices)`` marks the codes whose patch holds an object pixel
    (plain-background styles only): the bits of a scene's objects apart from its background.
    """

    def __init__(self, vq, prompts: list[dict], *, height: int, width: int, seed: int = 0,
                 num_samples: int | None = None, style: str = "reading"):
        from tokenshuffle.data.scene_style import STYLES

        check_choice("style", style, STYLES)
        if not prompts:
            raise ValueError("prompts: need at least one GenEval metadata line")
        self.vq, self.prompts, self.seed, self.style = vq, prompts, seed, STYLES[style]
        self.height, self.width = height, width
        self.num_samples = num_samples or len(prompts)
        self.memo: dict[int, tuple[tuple[str, ...], torch.Tensor, torch.Tensor]] = {}

    @torch.no_grad()
    def _fill(self, indices: list[int]) -> None:
        import numpy as np

        from tokenshuffle.data.images import to_tensor
        from tokenshuffle.data.scene_render import render_scene
        from tokenshuffle.data.scene_style import PLAIN_GREY
        from tokenshuffle.data.scenes import scene_for_metadata

        todo = [i for i in dict.fromkeys(indices) if i not in self.memo]
        if not todo:
            return
        specs = [scene_for_metadata(self.prompts[i % len(self.prompts)], rng=np.random.default_rng([self.seed, i]),
                                    aspect=self.width / self.height, style=self.style) for i in todo]
        pixels = torch.stack([to_tensor(render_scene(s, height=self.height, width=self.width))
                              for s in specs])  # (B, 3, H, W) uint8
        device = next(self.vq.parameters()).device
        codes = self.vq.encode(to_float(pixels).to(device)).cpu()  # (B, h, w)
        f = self.vq.downsample
        objects = (pixels.float() - PLAIN_GREY).abs().amax(1) > 0.5  # (B, H, W) any channel off the grey
        patches = objects.unflatten(1, (codes.shape[1], f)).unflatten(3, (codes.shape[2], f)).any(4).any(2)  # (B, h, w)
        for i, s, c, m in zip(todo, specs, codes, patches, strict=True):
            self.memo[i] = (s.captions, c, m)

    def get(self, indices: list[int]) -> tuple[list[tuple[str, ...]], torch.Tensor]:
        self._fill(indices)
        return [self.memo[i][0] for i in indices], torch.stack([self.memo[i][1] for i in indices])  # (B, h, w)

    def object_mask(self, indices: list[int]) -> torch.Tensor:
        """(B, h, w) bool: the codes of ``indices`` whose pixel patch holds part of an object."""
        if self.style.background != "plain":
            raise ValueError("object_mask needs a plain-background style (canonical, fixed or reading)")
        self._fill(indices)
        return torch.stack([self.memo[i][2] for i in indices])


class ShardCodes:
    """Pre-encoded code shards (``tokenshuffle.data.codes.CodeShards``)."""

    def __init__(self, root: str):
        if not Path(root).is_dir():
            raise FileNotFoundError(f"data={root}: no such folder (expected code shards written by "
                                    "`tokenshuffle encode`, or 'random' / 'scenes')")
        from tokenshuffle.data.codes import CodeShards

        self.shards = CodeShards(root)
        self.num_samples = len(self.shards)
        # rows of each grid, when there are several (BatchStream then keeps each step within one)
        self.buckets = list(self.shards.buckets.values()) if len(self.shards.buckets) > 1 else None
        self.bucket_grids = list(self.shards.buckets)  # (h, w) of each bucket, in the order of ``buckets``

    def get(self, indices: list[int]) -> tuple[list[tuple[str, ...]], torch.Tensor]:
        items = [self.shards[i] for i in indices]
        phrasings = [(it["caption"], *(c for c in it["captions"] if c != it["caption"])) for it in items]
        grids = {tuple(it["codes"].shape) for it in items}
        if len(grids) > 1:
            raise ValueError(f"{self.shards.root}: one batch asks for items of several grids {sorted(grids)}; read "
                             "a multi-size code set through BatchStream, which draws each step from one bucket")
        return phrasings, torch.stack([it["codes"] for it in items])
