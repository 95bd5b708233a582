"""Pinned upstream emoji/clipart packages: how to fetch each, check it, and list its images + captions.

Each source yields ``Item``s (an SVG document, a caption, more phrasings, free-form metadata). Sources
are pinned by exact version and sha256 of the downloaded archive, recorded below on first download.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath

PERMISSIVE_LICENSES = ("MIT", "Apache-2.0", "public-domain")


@dataclass(frozen=True)
class Source:
    name: str
    kind: str  # "npm" (npm pack) or "deb" (apt-get download)
    spec: str  # package@version or package=version
    filename: str  # what npm pack / apt-get download writes
    sha256: str
    license: str
    attribution: str
    notes: dict = field(default_factory=dict)

    @property
    def permissive(self) -> bool:
        return self.license in PERMISSIVE_LICENSES


@dataclass(frozen=True)
class Item:
    key: str  # unique within the source, sorts deterministically
    svg: str
    caption: str
    captions: tuple[str, ...]
    metadata: dict


SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        Source(
            "fluentui-emoji",
            "npm",
            "fluentui-emoji@1.3.0",
            "fluentui-emoji-1.3.0.tgz",
            "ec892e607e854859b812c7d827801756adc19955b0ef56d4ae8afcddd19492c5",
            "MIT",
            "Microsoft Fluent UI Emoji (flat style), MIT License, npm fluentui-emoji 1.3.0",
        ),
        Source(
            "noto",
            "npm",
            "@iconify-json/noto@1.2.9",
            "iconify-json-noto-1.2.9.tgz",
            "3e918d88fc945c0bb3d468dbace6f88caef67f01c9f0e7bcae0915a042e8f1ad",
            "Apache-2.0",
            "Google Noto Emoji, Apache License 2.0, npm @iconify-json/noto 1.2.9",
        ),
        Source(
            "openmoji",
            "npm",
            "openmoji@17.0.0",
            "openmoji-17.0.0.tgz",
            "55ee7d13485dec86e9f38c1f3a645a13382d33ff97c0cd845ee824b0aef45e68",
            "CC-BY-SA-4.0",
            "OpenMoji (openmoji.org), CC BY-SA 4.0, npm openmoji 17.0.0",
        ),
        Source(
            "openclipart",
            "deb",
            "openclipart-svg=1:0.18+dfsg-19",
            "openclipart-svg_1%3a0.18+dfsg-19_all.deb",
            "989712d90d57dfa3230049f553bb43b76c30ee4d4b8c5f6e106e33f7db5cbdc5",
            "public-domain",
            "Open Clip Art Library 0.18 (public domain), Debian openclipart-svg 1:0.18+dfsg-19",
        ),
    )
}

_SKIN_TONES = {
    "dark": "dark skin tone",
    "medium-dark": "medium-dark skin tone",
    "medium": "medium skin tone",
    "medium-light": "medium-light skin tone",
    "light": "light skin tone",
}
# Openclipart folders that are noise for captioned images: star/arrow/flowchart primitives, computer
# icon themes, logos, page templates and duplicates.
_CLIPART_DROP = (
    "shapes/stars",
    "shapes/arrows",
    "shapes/flowchart",
    "shapes/callouts",
    "shapes/jigsaw",
    "computer",
    "logos",
    "special",
    "unsorted/duplicates",
    "buttons",
)


def _words(name: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[-_]+", " ", name)).strip()


def _phrasings(caption: str, style: str, tags=()) -> tuple[str, ...]:
    out = [caption, f"{caption} {style}", f"a {style} of {caption}"]
    if tags:
        out.append(f"{caption}: {', '.join(tags)}")
    return tuple(dict.fromkeys(out))


def _fluent(archive: tarfile.TarFile) -> Iterator[Item]:
    for member in sorted(archive.getmembers(), key=lambda m: m.name):
        path = PurePosixPath(member.name)
        if path.parent.as_posix() != "package/icons/flat" or path.suffix != ".svg":
            continue
        stem = path.stem
        # Skin-tone variants repeat the same drawing five times; keep the default ("-default"/plain).
        if any(stem.endswith("-" + tone) for tone in _SKIN_TONES):
            continue
        caption = _words(stem.removesuffix("-default"))
        svg = archive.extractfile(member).read().decode("utf-8")
        yield Item(stem, svg, caption, _phrasings(caption, "emoji"), {"name": caption, "style": "flat"})


def _noto(archive: tarfile.TarFile) -> Iterator[Item]:
    data = json.load(archive.extractfile("package/icons.json"))
    default_w, default_h = data.get("width", 16), data.get("height", 16)
    for name in sorted(data["icons"]):
        icon = data["icons"][name]
        if icon.get("hidden"):
            continue
        w, h = icon.get("width", default_w), icon.get("height", default_h)
        left, top = icon.get("left", 0), icon.get("top", 0)
        svg = (
            '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
            f'viewBox="{left} {top} {w} {h}" width="{w}" height="{h}">{icon["body"]}</svg>'
        )
        caption = _words(name)
        yield Item(name, svg, caption, _phrasings(caption, "emoji"), {"name": caption})


def _openmoji(archive: tarfile.TarFile) -> Iterator[Item]:
    entries = json.load(archive.extractfile("package/data/openmoji.json"))
    names = set(archive.getnames())
    for entry in sorted(entries, key=lambda e: e["hexcode"]):
        if entry["group"] == "extras-openmoji" and entry["subgroups"] == "brand":
            continue  # brand logos: trademarks, not pictures of things
        member = f"package/color/svg/{entry['hexcode']}.svg"
        if member not in names:
            continue
        tags = [t.strip() for t in (entry.get("tags", "") + "," + entry.get("openmoji_tags", "")).split(",")]
        tags = list(dict.fromkeys(t for t in tags if t))
        caption = entry["annotation"]
        svg = archive.extractfile(member).read().decode("utf-8")
        meta = {
            "name": caption,
            "tags": tags,
            "group": entry["group"],
            "subgroup": entry["subgroups"],
            "author": entry.get("openmoji_author", ""),
        }
        yield Item(entry["hexcode"], svg, caption, _phrasings(caption, "emoji", tags[:6]), meta)


def _deb_data(blob: bytes) -> tarfile.TarFile:
    """The data.tar.* member of a .deb (an ``ar`` archive: 8-byte magic, then 60-byte headers)."""
    if not blob.startswith(b"!<arch>\n"):
        raise ValueError("not a .deb (ar) archive")
    pos = 8
    while pos + 60 <= len(blob):
        header = blob[pos : pos + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        if name.startswith("data.tar"):
            return tarfile.open(fileobj=io.BytesIO(blob[pos + 60 : pos + 60 + size]))
        pos += 60 + size + (size % 2)
    raise ValueError("no data.tar member in the .deb")


def _openclipart(archive: tarfile.TarFile) -> Iterator[Item]:
    root = "usr/share/openclipart/svg/"
    for member in sorted(archive.getmembers(), key=lambda m: m.name):
        name = member.name.removeprefix("./")
        if not (member.isfile() and name.startswith(root) and name.endswith(".svg")):
            continue
        rel = name[len(root) :]
        folder = PurePosixPath(rel).parent.as_posix()
        if any(folder == d or folder.startswith(d + "/") for d in _CLIPART_DROP):
            continue
        stem = re.sub(r"(_\d+)+$", "", PurePosixPath(rel).stem)
        caption = _words(stem)
        category = _words(folder.split("/")[-1]) if folder != "." else ""
        svg = archive.extractfile(member).read().decode("utf-8", errors="replace")
        tags = [category] if category else []
        meta = {"name": caption, "category": folder}
        yield Item(rel, svg, caption, _phrasings(caption, "clipart", tags), meta)


def iter_items(source: Source, blob: bytes) -> Iterator[Item]:
    """The images of ``source`` from its downloaded archive bytes, in a fixed order."""
    if source.kind == "deb":
        with _deb_data(blob) as archive:
            yield from _openclipart(archive)
        return
    reader = {"fluentui-emoji": _fluent, "noto": _noto, "openmoji": _openmoji}[source.name]
    with tarfile.open(fileobj=io.BytesIO(blob)) as archive:
        yield from reader(archive)
