import pytest
import torch

import tokenshuffle as ts
from tokenshuffle.cli import main
from tokenshuffle.pipeline import TextToImagePipeline
from tokenshuffle.vq.autoencoder import VQTokenizer
from tokenshuffle.vq.config import VQConfig


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    vq = VQTokenizer(VQConfig.preset("vq-16-tiny"))
    lm = ts.TokenShuffleLM(ts.LMConfig.preset("tiny", shuffle_window=2, image_vocab_size=vq.codebook_size))
    path = tmp_path_factory.mktemp("m") / "pipe"
    TextToImagePipeline(vq=vq, lm=lm, height=64, width=64).save_pretrained(path)
    return path


def test_generate_writes_grid_and_images(model_dir, tmp_path, capsys):
    out = tmp_path / "o" / "img.png"
    assert main(["generate", "a red circle", "--model", str(model_dir), "--num-images", "2", "--out", str(out)]) == 0
    assert out.is_file() and (tmp_path / "o" / "img-0.png").is_file() and (tmp_path / "o" / "img-1.png").is_file()
    assert not list((tmp_path / "o").glob("*.tmp"))
    assert "wrote" in capsys.readouterr().out


@pytest.mark.parametrize(
    "extra,needle",
    [
        (["--height", "48"], "height=48"),
        (["--guidance-scale", "-1"], "guidance_scale"),
        (["--top-k", "-1"], "top_k"),
        (["--top-p", "1.5"], "top_p"),
        (["--temperature", "-1"], "temperature"),
        (["--cfg-schedule", "cosine"], "cfg_schedule"),
        (["--num-images", "0"], "--num-images"),
        (["--candidates", "0"], "candidates"),
    ],
)
def test_generate_bad_input_is_one_line_and_exit_2(model_dir, tmp_path, capsys, extra, needle):
    code = main(["generate", "x", "--model", str(model_dir), "--out", str(tmp_path / "x.png"), *extra])
    err = capsys.readouterr().err
    assert code == 2
    assert needle in err and err.count("\n") == 1 and "Traceback" not in err
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_bench_bad_window_is_one_line_and_exit_2(capsys):
    assert main(["bench", "generate", "--models", "tiny", "--height", "64", "--width", "64", "--windows", "3"]) == 2
    err = capsys.readouterr().err
    assert "downsample*s=48" in err and err.count("\n") == 1


def test_bench_generate_reports_every_configuration(tmp_path, capsys):
    out = tmp_path / "b.json"
    code = main(["bench", "generate", "--models", "tiny", "--height", "64", "--width", "64", "--windows", "1,2",
                 "--cfg", "both", "--repeats", "1", "--warmup", "0", "--image-vocab", "64", "--json", str(out)])
    assert code == 0
    import json

    result = json.loads(out.read_text())
    assert {"device", "dtype", "torch", "threads", "commit"} <= set(result["environment"])
    rows = result["results"]
    assert [(r["s"], r["cfg"]) for r in rows] == [(1, True), (1, False), (2, True), (2, False)]
    assert all(r["images_per_s"] > 0 and r["steps"] == 16 // r["s"] ** 2 for r in rows)


def test_bench_generate_window_head_rows(tmp_path, capsys):
    out = tmp_path / "b.json"
    code = main(["bench", "generate", "--models", "tiny", "--height", "64", "--width", "64", "--windows", "1,2",
                 "--window-head", "both", "--repeats", "1", "--warmup", "0", "--image-vocab", "64", "--json", str(out)])
    assert code == 0
    import json

    rows = json.loads(out.read_text())["results"]
    assert [(r["s"], r["window_ar"]) for r in rows] == [(1, False), (2, False), (2, True)]  # no head at s=1
    assert main(["bench", "generate", "--models", "tiny", "--window-head", "maybe"]) == 2
    err = capsys.readouterr().err
    assert "--window-head must be one of on, off, both" in err and err.count("\n") == 1


def test_bench_train_reports_every_window(tmp_path):
    out = tmp_path / "t.json"
    code = main(["bench", "train", "--model", "tiny", "--height", "64", "--width", "64", "--windows", "1,2",
                 "--repeats", "1", "--warmup", "0", "--image-vocab", "64", "--json", str(out)])
    assert code == 0
    import json

    rows = json.loads(out.read_text())["results"]
    assert [r["s"] for r in rows] == [1, 2]
    assert rows[0]["speedup"] == 1.0 and all(r["images_per_s"] > 0 for r in rows)
    assert rows[1]["positions"] < rows[0]["positions"]
