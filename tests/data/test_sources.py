import io
import json
import tarfile
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from tokenshuffle.data.sources import detect_layout, expand_braces, iter_unit, open_source


def _png(seed=0, size=(32, 32)):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(
        buf, format="PNG")
    return buf.getvalue()


def _tar(path, members):
    with tarfile.open(path, "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_expand_braces_keeps_padding_and_lists():
    assert expand_braces("s/{000008..000010}.tar") == ["s/000008.tar", "s/000009.tar", "s/000010.tar"]
    assert expand_braces("{a,b}-{1..2}") == ["a-1", "a-2", "b-1", "b-2"]
    assert expand_braces("plain.tar") == ["plain.tar"]


def test_image_txt_folder_counts_missing_captions(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.png").write_bytes(_png(0))
    (tmp_path / "a.txt").write_text("a cat\n")
    (tmp_path / "sub" / "b.jpg").write_bytes(_png(1))
    (tmp_path / "sub" / "b.txt").write_text("a dog")
    (tmp_path / "c.png").write_bytes(_png(2))  # no caption
    source = open_source(tmp_path)
    assert source.layout == "image-txt" and source.entries == ("a.png", "c.png", "sub/b.jpg")
    skipped = Counter()
    items = [it for u in source.units(2) for it in iter_unit(u, skipped=skipped)]
    assert [(it.key, it.caption) for it in items] == [("a.png", "a cat"), ("sub/b.jpg", "a dog")]
    assert skipped == {"no_caption": 1}
    # train-vq needs no caption: the uncaptioned image is kept
    assert len([it for u in source.units(2) for it in iter_unit(u, skipped=Counter(), need_caption=False)]) == 3


def test_tar_shards_by_brace_range_glob_and_folder(tmp_path):
    for k in range(3):
        _tar(tmp_path / f"{k:06d}.tar", [(f"x{k}.png", _png(k)), (f"x{k}.txt", f"item {k}".encode())])
    for spec in (f"{tmp_path}/{{000000..000002}}.tar", f"{tmp_path}/*.tar", str(tmp_path)):
        assert detect_layout(spec) == "tar"
        assert [u.entries[0][-10:] for u in open_source(spec).units(100)] == [f"{k:06d}.tar" for k in range(3)]
    unit = open_source(tmp_path).units(1)[1]
    (item,) = iter_unit(unit, skipped=Counter())
    assert item.key == "000001.tar/x1" and item.caption == "item 1" and isinstance(item.data, bytes)


def test_tar_members_without_image_or_caption_are_counted(tmp_path):
    meta = json.dumps({"caption": "from json", "license": "CC0"}).encode()
    _tar(tmp_path / "a.tar", [("k1.png", _png()), ("k1.json", meta), ("k2.txt", b"text only"),
                              ("k3.png", _png()), ("k4.png", _png()), ("k4.json", b"{not json")])
    skipped = Counter()
    (item,) = iter_unit(open_source(tmp_path / "a.tar").units(1)[0], skipped=skipped)
    assert item.caption == "from json" and item.metadata == {"license": "CC0"}
    assert skipped == {"no_image": 1, "no_caption": 1, "bad_caption": 1}


def test_a_cut_tar_counts_as_a_bad_shard(tmp_path):
    _tar(tmp_path / "a.tar", [("k1.png", _png()), ("k1.txt", b"one"), ("k2.png", _png(1)), ("k2.txt", b"two")])
    data = (tmp_path / "a.tar").read_bytes()
    (tmp_path / "a.tar").write_bytes(data[:5000])  # inside k2.png (records are 512-byte blocks)
    skipped = Counter()
    list(iter_unit(open_source(tmp_path / "a.tar").units(1)[0], skipped=skipped))
    assert skipped["bad_shard"] == 1


def test_empty_or_missing_inputs_are_one_line_errors(tmp_path):
    with pytest.raises(ValueError, match="no image files"):
        open_source(tmp_path)
    with pytest.raises(FileNotFoundError, match="no such folder or tar shard"):
        open_source(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="no such shard"):
        open_source(f"{tmp_path}/{{0..1}}.tar")
    (tmp_path / "captions.jsonl").write_text("")
    with pytest.raises(ValueError, match="lists no images"):
        open_source(tmp_path)
