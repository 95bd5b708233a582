import json

import numpy as np
import pytest
import torch
from PIL import Image

from tokenshuffle.data.codes import CodeShards, encode_folder
from tokenshuffle.data.folder import FolderWriter
from tokenshuffle.vq import VQConfig, VQTokenizer
from tokenshuffle.vq.data import to_float


def _folder(root, num=5, size=32, corrupt=None):
    g = np.random.default_rng(0)
    with FolderWriter(root) as w:
        for i in range(num):
            img = Image.fromarray(g.integers(0, 256, (size, size, 3), dtype=np.uint8))
            w.add(img, caption=f"item {i}", captions=[f"item {i}", f"thing {i}"], metadata={"tag": "t", "i": i})
    if corrupt is not None:
        (root / f"images/{corrupt:06d}.png").write_bytes(b"not a png")
    return root


def _vq():
    torch.manual_seed(0)
    return VQTokenizer(VQConfig.preset("vq-16-tiny")).eval()


def test_encode_and_read_back(tmp_path):
    data, vq = _folder(tmp_path / "data"), _vq()
    index = encode_folder(vq, data, tmp_path / "codes", batch_size=2, shard_size=2, progress=False)
    assert index["complete"] and index["num_items"] == 5 and index["grid"] == [2, 2] and index["dtype"] == "uint16"
    assert [s["num"] for s in index["shards"]] == [2, 2, 1] and index["buckets"]["32x32"]["num"] == 5
    assert np.load(tmp_path / "codes" / "codes-00000-32x32.npy", mmap_mode="r").dtype == np.uint16
    shards = CodeShards(tmp_path / "codes")
    assert len(shards) == 5 and shards.grid == (2, 2) and shards.codebook_size == 64
    from tokenshuffle.data.folder import ImageCaptionFolder

    folder = ImageCaptionFolder(data)
    images = torch.stack([folder[i]["image"] for i in range(5)])
    expected = vq.encode(to_float(images))
    for i in range(5):
        item = shards[i]
        assert item["codes"].dtype == torch.long and item["codes"].shape == (2, 2)
        assert torch.equal(item["codes"], expected[i])
        assert item["caption"] == f"item {i}" and item["captions"] == [f"item {i}", f"thing {i}"]
        assert item["metadata"] == {"tag": "t", "i": i}
    assert torch.equal(shards[-1]["codes"], expected[4])
    from tokenshuffle.data.code_sources import ShardCodes

    phrasings, codes = ShardCodes(str(tmp_path / "codes")).get([3, 1])  # what LM training reads
    assert phrasings == [("item 3", "thing 3"), ("item 1", "thing 1")] and torch.equal(codes, expected[[3, 1]])
    with pytest.raises(IndexError):
        shards[5]


def test_resume_skips_finished_shards(tmp_path):
    data, vq, out = _folder(tmp_path / "data"), _vq(), tmp_path / "codes"
    encode_folder(vq, data, out, shard_size=2, progress=False)
    index = json.loads((out / "index.json").read_text())
    # Simulate an interruption after the first shard: later shards gone, index incomplete.
    for s in index["shards"][1:]:
        (out / s["parts"][0]["codes"]).unlink()
    index["shards"], index["num_items"], index["complete"] = index["shards"][:1], 2, False
    index["buckets"]["32x32"]["num"] = 2
    (out / "index.json").write_text(json.dumps(index))
    with pytest.raises(ValueError, match="incomplete"):
        CodeShards(out)
    # A sentinel in the finished shard shows it is kept, not re-encoded.
    np.save(out / "codes-00000-32x32.npy", np.full((2, 2, 2), 7, dtype=np.uint16))
    again = encode_folder(vq, data, out, shard_size=2, progress=False)
    assert again["complete"] and again["num_items"] == 5
    shards = CodeShards(out)
    assert (shards[0]["codes"] == 7).all() and not (shards[4]["codes"] == 7).all()
    assert len(CodeShards(out)) == 5


def test_unreadable_image_is_skipped(tmp_path):
    data = _folder(tmp_path / "data", corrupt=1)
    index = encode_folder(_vq(), data, tmp_path / "codes", progress=False)
    assert index["num_items"] == 4 and index["num_skipped"] == 1
    assert [it["caption"] for it in CodeShards(tmp_path / "codes")] == ["item 0", "item 2", "item 3", "item 4"]


def test_errors(tmp_path):
    data, vq = _folder(tmp_path / "data"), _vq()
    with pytest.raises(FileNotFoundError, match="no such folder or tar shard"):
        encode_folder(vq, tmp_path / "nothing", tmp_path / "codes", progress=False)
    with pytest.raises(ValueError, match="downsample factor 16"):
        encode_folder(vq, data, tmp_path / "codes", size=40, progress=False)
    encode_folder(vq, data, tmp_path / "ok", progress=False)
    other = VQTokenizer(VQConfig.preset("vq-16-tiny", codebook_size=32))
    with pytest.raises(ValueError, match="another tokenizer"):
        encode_folder(other, data, tmp_path / "ok", progress=False)
    with pytest.raises(FileNotFoundError, match="index.json"):
        CodeShards(tmp_path)


def test_bf16_encode_is_recorded_and_mostly_agrees_with_fp32(tmp_path):
    data, vq = _folder(tmp_path / "data", num=4, size=64), _vq()
    fp32 = encode_folder(vq, data, tmp_path / "fp32", progress=False)
    bf16 = encode_folder(vq, data, tmp_path / "bf16", precision="bf16", progress=False)
    assert (fp32["precision"], bf16["precision"]) == ("fp32", "bf16")
    a = torch.stack([it["codes"] for it in CodeShards(tmp_path / "fp32")])
    b = torch.stack([it["codes"] for it in CodeShards(tmp_path / "bf16")])
    assert a.shape == b.shape == (4, 4, 4) and (a == b).float().mean() > 0.8
    with pytest.raises(ValueError, match="precision"):  # resuming must not mix precisions
        encode_folder(vq, data, tmp_path / "bf16", progress=False)
    with pytest.raises(ValueError, match="precision must be one of fp32, bf16"):
        encode_folder(vq, data, tmp_path / "x", precision="fp16", progress=False)
