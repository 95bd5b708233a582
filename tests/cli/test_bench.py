import json

from tokenshuffle.cli import main


def test_bench_bad_window_is_one_line_and_exit_2(capsys):
    assert main(["bench", "generate", "--models", "tiny", "--height", "64", "--width", "64", "--windows", "3"]) == 2
    err = capsys.readouterr().err
    assert "downsample*s=48" in err and err.count("\n") == 1


def test_bench_generate_reports_every_configuration(tmp_path, capsys):
    out = tmp_path / "b.json"
    code = main(["bench", "generate", "--models", "tiny", "--height", "64", "--width", "64", "--windows", "1,2",
                 "--cfg", "both", "--repeats", "1", "--warmup", "0", "--image-vocab", "64", "--json", str(out)])
    assert code == 0
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
    rows = json.loads(out.read_text())["results"]
    assert [r["s"] for r in rows] == [1, 2]
    assert rows[0]["speedup"] == 1.0 and all(r["images_per_s"] > 0 for r in rows)
    assert rows[1]["positions"] < rows[0]["positions"]
