import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from tokenshuffle.data import FolderWriter, ImageCaptionFolder, TarShardDataset, collate_samples, write_tar_shards


def _png(mode, size=(40, 30)):
    buf = io.BytesIO()
    arr = np.random.default_rng(0).integers(0, 255, (size[1], size[0], len(mode)), dtype=np.uint8)
    Image.fromarray(arr.squeeze(-1) if len(mode) == 1 else arr, mode=mode).save(buf, format="PNG")
    return buf.getvalue()


def _make_folder(root):
    good = _png("RGB")
    files = {
        "good.png": good,
        "gray.png": _png("L"),
        "rgba.png": _png("RGBA"),
        "tiny.png": _png("RGB", size=(8, 8)),
        "corrupt.png": b"not an image at all",
        "truncated.png": good[: len(good) // 2],
    }
    (root / "images").mkdir()
    lines = []
    for name, data in files.items():
        (root / "images" / name).write_bytes(data)
        lines.append(json.dumps({"file": f"images/{name}", "caption": name, "metadata": {"k": 1}}))
    lines.append(json.dumps({"file": "images/missing.png", "caption": "missing"}))
    (root / "captions.jsonl").write_text("\n".join(lines) + "\n")


def test_bad_images_are_skipped_and_counted(tmp_path):
    _make_folder(tmp_path)
    ds = ImageCaptionFolder(tmp_path)
    captions = [ds[i]["caption"] for i in range(len(ds))]
    assert {"good.png", "gray.png", "rgba.png"} == set(captions)
    assert ds.num_skipped["corrupt"] >= 1 and ds.num_skipped["truncated"] >= 1
    assert ds.num_skipped["tiny"] >= 1 and ds.num_skipped["missing"] >= 1
    verified = ImageCaptionFolder(tmp_path, verify=True, size=(16, 24))
    assert len(verified) == 3
    item = verified[1]
    assert item["image"].shape == (3, 16, 24) and item["image"].dtype == torch.uint8
    assert item["metadata"]["k"] == 1 and item["metadata"]["file"] == "images/gray.png"


def test_rgba_is_composited_on_white(tmp_path):
    img = Image.new("RGBA", (20, 20), (255, 0, 0, 0))
    with FolderWriter(tmp_path) as w:
        w.add(img, caption="clear")
    assert ImageCaptionFolder(tmp_path)[0]["image"].min() == 255


def test_tar_shards_round_trip_and_skip_bad_members(tmp_path):
    samples = [{"image": Image.new("RGB", (32, 32), (i * 40, 0, 0)), "caption": f"c{i}"} for i in range(5)]
    paths = write_tar_shards(samples, tmp_path / "shards", num_per_shard=2)
    assert len(paths) == 3
    import tarfile

    with tarfile.open(tmp_path / "shards" / "zz-bad.tar", "w") as tar:
        for name, data in (("a.jpg", b"garbage"), ("a.txt", b"broken"), ("b.txt", b"no image")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    ds = TarShardDataset(tmp_path / "shards", size=16)
    items = list(ds)
    assert [x["caption"] for x in items] == [f"c{i}" for i in range(5)]
    assert ds.num_skipped["corrupt"] == 1 and ds.num_skipped["no_image"] == 1
    batch = collate_samples(items)
    assert batch["image"].shape == (5, 3, 16, 16)


def test_missing_index_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="captions.jsonl"):
        ImageCaptionFolder(tmp_path)
