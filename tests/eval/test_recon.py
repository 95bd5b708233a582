import json

import numpy as np
import pytest
import torch
from PIL import Image

from tokenshuffle.cli import main
from tokenshuffle.data.folder import FolderWriter
from tokenshuffle.eval.recon import code_stats, evaluate_recon
from tokenshuffle.vq import VQConfig, VQTokenizer


def test_code_stats():
    s = code_stats(torch.tensor([5, 5, 0, 0]))
    assert s["codebook_usage_pct"] == 50.0 and s["num_codes_used"] == 2
    assert s["perplexity"] == pytest.approx(2.0)


def _folder(root, num=3):
    g = np.random.default_rng(0)
    with FolderWriter(root) as w:
        for i in range(num):
            w.add(Image.fromarray(g.integers(0, 256, (32, 48, 3), dtype=np.uint8)), caption=f"c{i}")
    return root


def test_evaluate_recon_and_cli(tmp_path, capsys):
    torch.manual_seed(0)
    vq = VQTokenizer(VQConfig.preset("vq-16-tiny"))
    vq.save_pretrained(tmp_path / "vq")
    data = _folder(tmp_path / "data")
    result = evaluate_recon(tmp_path / "vq", data, batch_size=2, progress=False)
    assert result["num_images"] == 3 and result["image_sizes"] == ["32x48"]
    assert result["num_tokens"] == 3 * 2 * 3
    assert 0 < result["codebook_usage_pct"] <= 100 * 18 / 64
    assert 1.0 <= result["perplexity"] <= 18
    assert 0 < result["psnr"] < 40 and -1 <= result["ssim"] <= 1
    rc = main(["eval", "recon", "--vq", str(tmp_path / "vq"), "--data", str(data), "--json", str(tmp_path / "r.json")])
    assert rc == 0
    assert "PSNR" in capsys.readouterr().out
    assert json.loads((tmp_path / "r.json").read_text())["psnr"] == pytest.approx(result["psnr"])


def test_cli_errors(tmp_path, capsys):
    assert main(["eval", "recon", "--vq", str(tmp_path), "--data", str(tmp_path)]) == 2
    assert "config.json" in capsys.readouterr().err


def test_scene_score(tmp_path):
    from tokenshuffle.data.scene_writer import write_scenes
    from tokenshuffle.eval.recon import _scene_score

    write_scenes(num=2, height=64, width=64, seed=0, out=tmp_path / "scenes", progress=False)
    vq = VQTokenizer(VQConfig.preset("vq-16-tiny"))
    result = evaluate_recon(vq, tmp_path / "scenes", scene_score=True, progress=False)
    assert result["scenes"]["num_images"] == 2 and 0.0 <= result["scenes"]["overall"] <= 1.0
    # the originals themselves score perfectly through the same path
    from tokenshuffle.data.folder import ImageCaptionFolder

    folder = ImageCaptionFolder(tmp_path / "scenes")
    items = [folder[i] for i in range(2)]
    assert _scene_score([it["image"] for it in items], [it["metadata"] for it in items], progress=False)[
        "overall"] == 1.0
    with pytest.raises(ValueError, match="scene metadata"):
        evaluate_recon(vq, _folder(tmp_path / "plain"), scene_score=True, progress=False)
