import io
import json
import tarfile
from collections import Counter

import numpy as np
import pytest
import torch
from PIL import Image

from tokenshuffle.data.codes import CodeShards
from tokenshuffle.data.encode import EncodeConfig, encode_dataset
from tokenshuffle.vq import VQConfig, VQTokenizer


def _vq():
    torch.manual_seed(0)
    return VQTokenizer(VQConfig.preset("vq-16-tiny")).eval()


def _png(seed, size):
    buf = io.BytesIO()
    arr = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _shards(root, *, num_tars=3, per_tar=4, sizes=((32, 32),), corrupt=()):
    """Tars of KEY.png + KEY.txt; image i has size sizes[i % len(sizes)] (width, height); ``corrupt`` keys
    get garbage bytes instead of a PNG."""
    root.mkdir(parents=True, exist_ok=True)
    i = 0
    for t in range(num_tars):
        with tarfile.open(root / f"{t:06d}.tar", "w") as tar:
            for _ in range(per_tar):
                data = b"garbage" if i in corrupt else _png(i, sizes[i % len(sizes)])
                for name, payload in ((f"{i:05d}.png", data), (f"{i:05d}.txt", f"item {i}".encode())):
                    info = tarfile.TarInfo(name)
                    info.size = len(payload)
                    tar.addfile(info, io.BytesIO(payload))
                i += 1
    return root


def test_tar_shards_encode_with_corrupt_members_counted(tmp_path):
    data = _shards(tmp_path / "wds", corrupt=(1, 6))
    index = encode_dataset(_vq(), f"{data}/{{000000..000002}}.tar", tmp_path / "codes", progress=False)
    assert index["complete"] and index["num_items"] == 10 and index["skipped"] == {"corrupt": 2}
    assert index["source"]["layout"] == "tar" and [s["num"] for s in index["shards"]] == [3, 3, 4]
    shards = CodeShards(tmp_path / "codes")
    assert [shards[i]["caption"] for i in range(3)] == ["item 0", "item 2", "item 3"]
    assert json.loads(shards.lines[0])["file"] == "000000.tar/00000"


def test_buckets_store_codes_per_size(tmp_path):
    # wide 64x24, tall 24x64 and square 40x40 images into 64x32, 32x64 and 32x32 buckets (width x height)
    data = _shards(tmp_path / "wds", num_tars=2, per_tar=3, sizes=((64, 24), (24, 64), (40, 40)))
    config = EncodeConfig(buckets=((32, 64), (64, 32), (32, 32)), batch_size=2)
    index = encode_dataset(_vq(), data, tmp_path / "codes", config=config, progress=False)
    assert {k: v["num"] for k, v in index["buckets"].items()} == {"64x32": 2, "32x64": 2, "32x32": 2}
    assert index["grid"] is None and len(index["shards"][0]["parts"]) == 3
    shards = CodeShards(tmp_path / "codes")
    assert {g: len(r) for g, r in shards.buckets.items()} == {(2, 2): 2, (2, 4): 2, (4, 2): 2}
    for grid, rows in shards.buckets.items():
        assert all(tuple(shards[int(i)]["codes"].shape) == grid for i in rows)
    with pytest.raises(ValueError, match="3 grids"):
        _ = shards.grid


def test_two_workers_give_the_same_codes_and_resume(tmp_path):
    data = _shards(tmp_path / "wds", num_tars=4, per_tar=3, corrupt=(4,))
    vq = _vq()
    one = encode_dataset(vq, data, tmp_path / "one", config=EncodeConfig(workers=1, batch_size=2), progress=False)
    two = encode_dataset(vq, data, tmp_path / "two", config=EncodeConfig(workers=2, batch_size=2), progress=False)
    assert one["num_items"] == two["num_items"] == 11 and two["skipped"] == {"corrupt": 1}
    a, b = CodeShards(tmp_path / "one"), CodeShards(tmp_path / "two")
    assert a.lines == b.lines
    assert all(torch.equal(a[i]["codes"], b[i]["codes"]) for i in range(len(a)))
    # an interrupted multi-worker run: drop two shards from the index, resume with 2 workers
    index = json.loads((tmp_path / "two" / "index.json").read_text())
    index["shards"], index["complete"] = index["shards"][:2], False
    index["buckets"]["32x32"]["num"] = index["num_items"] = sum(s["num"] for s in index["shards"])
    index["skipped"], index["num_skipped"] = {"corrupt": 1}, 1
    (tmp_path / "two" / "index.json").write_text(json.dumps(index))
    again = encode_dataset(vq, data, tmp_path / "two", config=EncodeConfig(workers=2, batch_size=2), progress=False)
    assert again["num_items"] == 11 and again["skipped"] == {"corrupt": 1}


def test_nothing_usable_is_a_value_error(tmp_path):
    data = _shards(tmp_path / "wds", num_tars=1, per_tar=2, corrupt=(0, 1))
    with pytest.raises(ValueError, match=r"no usable image \(skipped: corrupt 2\)"):
        encode_dataset(_vq(), data, tmp_path / "codes", progress=False)
    odd = _shards(tmp_path / "odd", num_tars=1, per_tar=2, sizes=((40, 40),))
    with pytest.raises(ValueError, match="bad_size 2.*--size or --buckets"):
        encode_dataset(_vq(), odd, tmp_path / "codes2", progress=False)


def test_image_txt_folder_resize_fit(tmp_path):
    (tmp_path / "d").mkdir()
    for i in range(3):
        (tmp_path / "d" / f"{i}.png").write_bytes(_png(i, (50, 20)))
        (tmp_path / "d" / f"{i}.txt").write_text(f"thing {i}")
    config = EncodeConfig(buckets=((32, 32),), fit="resize")
    index = encode_dataset(_vq(), tmp_path / "d", tmp_path / "codes", config=config, progress=False)
    assert index["source"]["layout"] == "image-txt" and index["grid"] == [2, 2] and index["num_items"] == 3
    with pytest.raises(ValueError, match="another tokenizer, dataset or setting"):
        encode_dataset(_vq(), tmp_path / "d", tmp_path / "codes", config=EncodeConfig(buckets=((32, 32),)),
                       progress=False)


def test_cli_encode_nothing_usable_is_one_line_and_exit_2(tmp_path, capsys):
    from tokenshuffle.cli import main

    vq = _vq()
    vq.save_pretrained(tmp_path / "vq")
    data = _shards(tmp_path / "wds", num_tars=1, per_tar=2, corrupt=(0, 1))
    rc = main(["encode", "--vq", str(tmp_path / "vq"), "--data", str(data), "--out", str(tmp_path / "codes")])
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip() and "shard/s" not in ln]  # less the bar
    assert rc == 2 and err == [f"tokenshuffle encode: error: --data {data}: no usable image (skipped: corrupt 2)"]
    good = _shards(tmp_path / "good", num_tars=2, per_tar=2)
    assert main(["encode", "--vq", str(tmp_path / "vq"), "--data", f"{good}/{{000000..000001}}.tar", "--out",
                 str(tmp_path / "ok"), "--buckets", "32", "--fit", "resize"]) == 0
    assert "encoded 4 images" in capsys.readouterr().out
    assert main(["encode", "--vq", str(tmp_path / "vq"), "--data", str(good), "--out", str(tmp_path / "x"),
                 "--buckets", "40"]) == 2
    assert "not a multiple of the tokenizer's downsample factor 16" in capsys.readouterr().err


def test_data_shards_from_a_captions_folder_keeps_bytes_captions_and_provenance(tmp_path, capsys):
    from tokenshuffle.cli import main
    from tokenshuffle.data.folder import FolderWriter
    from tokenshuffle.data.sources import iter_unit, open_source

    with FolderWriter(tmp_path / "f") as w:
        for i in range(3):
            w.add(Image.new("RGB", (32, 32), (i, 0, 0)), caption=f"c{i}", captions=[f"c{i}", f"other {i}"],
                  metadata={"i": i}, license="MIT")
    (tmp_path / "f" / "images" / "000001.png").write_bytes(b"junk")  # counted, not copied
    out = str(tmp_path / "s")
    assert main(["data", "shards", "--data", str(tmp_path / "f"), "--out", out, "--per-shard", "1"]) == 0
    assert "wrote 2 images in 2 shards" in capsys.readouterr().out
    items = [it for u in open_source(tmp_path / "s").units(1) for it in iter_unit(u, skipped=Counter())]
    assert [(it.caption, it.captions, it.metadata) for it in items] == [
        ("c0", ["c0", "other 0"], {"i": 0, "license": "MIT"}), ("c2", ["c2", "other 2"], {"i": 2, "license": "MIT"})]
    assert items[0].data == (tmp_path / "f" / "images" / "000000.png").read_bytes()
