import io
import tarfile
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from tokenshuffle.cli import main
from tokenshuffle.vq.data import training_batches


def _tar(path, members):
    with tarfile.open(path, "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _png(seed, size=(40, 24)):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(
        buf, format="PNG")
    return buf.getvalue()


def test_tar_shards_feed_training_and_bad_images_are_counted(tmp_path):
    # images need no caption for the tokenizer; a corrupt and a tiny one are skipped and counted
    _tar(tmp_path / "000000.tar", [("a.png", _png(0)), ("b.png", b"junk"), ("c.png", _png(1, (8, 8)))])
    _tar(tmp_path / "000001.tar", [("d.png", _png(2)), ("d.txt", b"caption")])
    skipped = Counter()
    batches = training_batches(f"{tmp_path}/{{000000..000001}}.tar", image_sizes=(32,), crop_size=16, batch_size=3,
                               seed=0, skipped=skipped)
    for _ in range(3):
        x = next(batches)
        assert x.shape == (3, 3, 16, 16) and -1 <= x.min() and x.max() <= 1
    assert skipped["corrupt"] >= 1 and skipped["tiny"] >= 1


def test_no_usable_image_is_one_line_and_exit_2(tmp_path, capsys):
    (tmp_path / "d").mkdir()
    for i in range(2):
        (tmp_path / "d" / f"{i}.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match=r"no usable image \(skipped: corrupt 2\)"):
        next(training_batches(str(tmp_path / "d"), image_sizes=(32,), crop_size=0, batch_size=1, seed=0))
    rc = main(["train-vq", "--config", "scenes-f8", "--data", str(tmp_path / "d"), "--out", str(tmp_path / "run"),
               "--set", "vq.codebook_size=64", "--set", "image_sizes=[32]", "--set", "crop_size=16"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "no usable image" in err[0]
    assert not (tmp_path / "run").exists()  # refused before --out was touched
    assert main(["train-vq", "--config", "scenes-f8", "--data", str(tmp_path / "empty"), "--out",
                 str(tmp_path / "run2")]) == 2
    assert "no such folder or tar shard" in capsys.readouterr().err
