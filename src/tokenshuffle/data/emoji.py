"""``tokenshuffle data emoji``: real drawings nobody here made, rasterized to a captioned image folder.

Archives come from ``npm pack`` / ``apt-get download`` into a cache folder and must match the sha256
pinned in ``emoji_sources.SOURCES``. SVGs are rendered with resvg (``resvg-py``, ``dpi=96``; cairosvg
mis-draws Fluent's blur filters), cropped to their drawn content, scaled to fit ``size`` minus the
margin and centred on white. Blank renders are skipped and counted. Each record carries its source,
license and attribution; ``licenses=["permissive"]`` keeps MIT / Apache-2.0 / public-domain only.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import multiprocessing
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from tokenshuffle.data.emoji_sources import PERMISSIVE_LICENSES, SOURCES, Item, Source, iter_items
from tokenshuffle.errors import check_choice, check_range

_KNOWN_LICENSES = tuple(dict.fromkeys(s.license for s in SOURCES.values()))


class SourceUnavailable(Exception):
    """A package could not be fetched (no npm/apt, no network); the message is one line."""


@dataclass(frozen=True)
class EmojiConfig:
    size: int = 256
    limit: int | None = None  # at most this many images per source
    licenses: tuple[str, ...] | None = None  # license ids, or ("permissive",); None = all
    sources: tuple[str, ...] | None = None  # None = all
    margin: float = 0.1  # white border on each side, fraction of size
    num_workers: int = 0  # rasterizing processes; 0 = one per CPU core (output order never changes)

    def __post_init__(self):
        check_range("size", self.size, low=16, high=2048)
        if self.limit is not None:
            check_range("limit", self.limit, low=1)
        check_range("margin", self.margin, low=0, high=0.4)
        check_range("num_workers", self.num_workers, low=0)
        for lic in self.licenses or ():
            check_choice("licenses", lic, ("permissive", *_KNOWN_LICENSES))
        for name in self.sources or ():
            check_choice("sources", name, SOURCES)
        object.__setattr__(self, "licenses", tuple(self.licenses) if self.licenses else None)
        object.__setattr__(self, "sources", tuple(self.sources) if self.sources else None)

    def selected(self) -> list[Source]:
        chosen = [SOURCES[n] for n in (self.sources or SOURCES)]
        if self.licenses is not None:
            allowed = set(self.licenses) | (set(PERMISSIVE_LICENSES) if "permissive" in self.licenses else set())
            chosen = [s for s in chosen if s.license in allowed]
        return chosen


def default_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tokenshuffle" / "emoji"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(source: Source, cache: Path, *, timeout: float = 300) -> Path:
    """Path of the source's archive in ``cache``, downloading it if needed; sha256-checked."""
    cache.mkdir(parents=True, exist_ok=True)
    target = cache / source.filename
    if not target.is_file():
        tool = "npm" if source.kind == "npm" else "apt-get"
        if shutil.which(tool) is None:
            raise SourceUnavailable(f"{source.name}: '{tool}' is not installed, cannot fetch {source.spec}")
        cmd = ["npm", "pack", source.spec] if source.kind == "npm" else ["apt-get", "download", source.spec]
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            try:
                proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=timeout)
            except subprocess.TimeoutExpired:
                raise SourceUnavailable(f"{source.name}: '{' '.join(cmd)}' timed out after {timeout:.0f}s") from None
            produced = Path(tmp) / source.filename
            if proc.returncode != 0 or not produced.is_file():
                last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                raise SourceUnavailable(f"{source.name}: '{' '.join(cmd)}' failed: {last}")
            os.replace(produced, target)
    actual = _sha256(target)
    if actual != source.sha256:
        raise ValueError(f"{target}: sha256 {actual} does not match the pinned {source.sha256}; delete it and retry")
    return target


def rasterize(svg: str, *, size: int, margin: float) -> Image.Image | None:
    """Render ``svg`` centred on a white ``size`` x ``size`` canvas; None when nothing visible is drawn."""
    import resvg_py

    inner = max(1, round(size * (1 - 2 * margin)))
    try:
        png = resvg_py.svg_to_bytes(svg_string=svg, width=2 * inner, dpi=96)
    except BaseException as exc:  # resvg raises ValueError, or a pyo3 PanicException, on broken files
        if isinstance(exc, KeyboardInterrupt | SystemExit):
            raise
        return None
    rgba = Image.open(io.BytesIO(bytes(png))).convert("RGBA")
    alpha = np.asarray(rgba)[:, :, 3]
    if (alpha > 8).sum() < 16:
        return None
    # Crop to the drawn content: clipart pages often sit on a big empty canvas.
    ys, xs = np.nonzero(alpha > 8)
    rgba = rgba.crop((int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1))
    scale = inner / max(rgba.size)
    rgba = rgba.resize((max(1, round(rgba.width * scale)), max(1, round(rgba.height * scale))), Image.LANCZOS)
    canvas = Image.new("RGBA", (size, size), (255, 255, 255, 255))
    canvas.alpha_composite(rgba, ((size - rgba.width) // 2, (size - rgba.height) // 2))
    img = canvas.convert("RGB")
    if np.asarray(img).std() < 2.0:
        return None  # white or near-white drawing on white: nothing to learn from
    return img


def _rasterize_job(job: tuple[str, int, float]) -> Image.Image | None:
    svg, size, margin = job
    return rasterize(svg, size=size, margin=margin)


def build_emoji_dataset(config: EmojiConfig, *, out, cache=None, progress: bool = True) -> dict:
    """Fetch, rasterize and write every selected source into ``out``; returns counts per source.

    A source that cannot be fetched is reported in ``unavailable`` and skipped; if none can be, a
    ``ValueError`` says why in one line.
    """
    from tqdm import tqdm

    from tokenshuffle.data.folder import FolderWriter

    cache = Path(cache) if cache is not None else default_cache()
    sources = config.selected()
    if not sources:
        raise ValueError("licenses/sources select no source; sources: " + ", ".join(SOURCES))
    per_source: dict[str, int] = {}
    skipped: dict[str, int] = {}
    unavailable: dict[str, str] = {}
    workers = config.num_workers or os.cpu_count() or 1
    # Starting processes (each imports torch) only pays off for whole sources, not a handful of images.
    use_pool = workers > 1 and (config.limit is None or config.limit > 64)
    pool = multiprocessing.get_context("spawn").Pool(workers) if use_pool else None
    try:
        with FolderWriter(out) as writer:
            for source in sources:
                try:
                    blob = fetch(source, cache).read_bytes()
                except SourceUnavailable as exc:
                    unavailable[source.name] = str(exc)
                    continue
                per_source[source.name] = skipped[source.name] = 0
                bar = tqdm(desc=source.name, unit="img", total=config.limit, disable=not progress)
                items = iter_items(source, blob)
                while config.limit is None or per_source[source.name] < config.limit:
                    wanted = 256 if config.limit is None else min(256, 2 * (config.limit - per_source[source.name]))
                    batch = list(itertools.islice(items, wanted))
                    if not batch:
                        break
                    jobs = [(item.svg, config.size, config.margin) for item in batch]
                    # map keeps the items' order, so the folder is the same for any number of workers.
                    images = pool.map(_rasterize_job, jobs, chunksize=8) if pool else map(_rasterize_job, jobs)
                    for item, img in zip(batch, images, strict=True):
                        if config.limit is not None and per_source[source.name] >= config.limit:
                            break
                        if img is None:
                            skipped[source.name] += 1
                            continue
                        _add(writer, img, item, source)
                        per_source[source.name] += 1
                        bar.update(1)
                bar.close()
    finally:
        if pool is not None:
            pool.terminate()
    if not per_source:
        raise ValueError("no emoji source could be fetched: " + " | ".join(unavailable.values()))
    return {
        "num_images": sum(per_source.values()),
        "per_source": per_source,
        "skipped": skipped,
        "unavailable": unavailable,
        "out": str(out),
    }


def _add(writer, img: Image.Image, item: Item, source: Source) -> None:
    writer.add(
        img,
        caption=item.caption,
        captions=list(item.captions),
        metadata=dict(item.metadata),
        source=source.name,
        license=source.license,
        attribution=source.attribution,
        key=item.key,
    )
