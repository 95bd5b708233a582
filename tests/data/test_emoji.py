import hashlib
import io
import json

import pytest

from tokenshuffle.cli import main
from tokenshuffle.data.emoji import EmojiConfig, build_emoji_dataset, default_cache, fetch, rasterize
from tokenshuffle.data.emoji_sources import SOURCES, Source, _deb_data

_SVG = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 20 10"><rect width="20" height="10" fill="#f00"/></svg>'


def test_rasterize_centres_on_white_and_drops_blank_renders():
    img = rasterize(_SVG, size=64, margin=0.1)
    assert img.size == (64, 64)
    assert img.getpixel((0, 0)) == (255, 255, 255) and img.getpixel((32, 32))[0] > 200
    assert img.getpixel((32, 32))[1] < 40
    empty = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"></svg>'
    assert rasterize(empty, size=64, margin=0.1) is None
    assert rasterize("<not svg", size=64, margin=0.1) is None


def test_config_checks_and_license_filter():
    names = [s.name for s in EmojiConfig(licenses=("permissive",)).selected()]
    assert names == ["fluentui-emoji", "noto", "openclipart"]
    with pytest.raises(ValueError, match="licenses"):
        EmojiConfig(licenses=("GPL",))
    with pytest.raises(ValueError, match="size"):
        EmojiConfig(size=4)


def test_sha256_mismatch_is_rejected(tmp_path):
    (tmp_path / "x.tgz").write_bytes(b"tampered")
    fake = Source("x", "npm", "x@1", "x.tgz", hashlib.sha256(b"original").hexdigest(), "MIT", "")
    with pytest.raises(ValueError, match="sha256"):
        fetch(fake, tmp_path)


def test_deb_reader_finds_the_data_member():
    import tarfile

    payload = io.BytesIO()
    with tarfile.open(fileobj=payload, mode="w") as tar:
        info = tarfile.TarInfo("./usr/x.svg")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    data = payload.getvalue()
    header = f"{'data.tar/':<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}`\n".encode()
    blob = b"!<arch>\n" + header + data + (b"\n" if len(data) % 2 else b"")
    assert _deb_data(blob).getnames() == ["./usr/x.svg"]


def test_emoji_command_with_a_tiny_limit(tmp_path):
    """Fetches the pinned packages (cached under ~/.cache/tokenshuffle/emoji) unless npm/apt are unavailable."""
    try:
        summary = build_emoji_dataset(
            EmojiConfig(size=64, limit=2), out=tmp_path / "emoji", cache=default_cache(), progress=False
        )
    except ValueError as exc:
        if "could be fetched" in str(exc):
            pytest.skip(f"npm/apt-get cannot reach their registries here: {exc}")
        raise
    for name, reason in summary["unavailable"].items():
        print(f"{name} unavailable: {reason}")
    assert all(count == 2 for count in summary["per_source"].values())
    records = [json.loads(x) for x in (tmp_path / "emoji" / "captions.jsonl").read_text().splitlines()]
    assert {r["license"] for r in records} <= {s.license for s in SOURCES.values()}
    assert all(r["caption"] and r["attribution"] for r in records)
    assert main(["data", "emoji", "--licenses", "GPL", "--out", str(tmp_path / "x")]) == 2


def test_worker_processes_do_not_change_the_folder(tmp_path):
    outs = {}
    for workers in (1, 2):
        config = EmojiConfig(size=16, limit=65, sources=("fluentui-emoji",), num_workers=workers)
        try:
            build_emoji_dataset(config, out=tmp_path / str(workers), cache=default_cache(), progress=False)
        except ValueError as exc:
            if "could be fetched" in str(exc):
                pytest.skip(f"npm cannot reach its registry here: {exc}")
            raise
        folder = tmp_path / str(workers)
        outs[workers] = [(folder / "captions.jsonl").read_text()] + [
            p.read_bytes() for p in sorted((folder / "images").iterdir())
        ]
    assert len(outs[1]) == 66 and outs[1] == outs[2]
