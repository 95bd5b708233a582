import pytest

from tokenshuffle.cli import main


@pytest.fixture
def model_dir(pipeline_dir):
    return pipeline_dir


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


@pytest.mark.parametrize("extra, needle", [
    (["--seed", "99999999999999999999999"], "--seed must be an integer in [0, 9223372036854775807]"),
    (["--seed", "-1"], "--seed must be an integer"),
    (["--guidance-scale", "inf"], "guidance_scale must be a finite number"),
    (["--temperature", "inf"], "temperature must be a finite number"),
    (["--top-p", "nan"], "top_p must be a finite number"),
    (["--width", "100000"], "width=100000 is not a size this model serves"),
    (["--height", "0"], "height=0 is not a size this model serves"),
    (["--height", "-64"], "height=-64 is not a size this model serves"),
    (["--device", "foo"], "--device must be one of"),
    (["--device", "meta"], "--device must be one of"),
    (["--device", "cuda:7"], "--device 'cuda:7'"),
    (["--dtype", "int8"], "--dtype must be one of auto, fp32, bf16, fp16"),
])
def test_generate_bad_numbers_are_one_line_before_any_work(model_dir, tmp_path, capsys, extra, needle):
    assert main(["generate", "x", "--model", str(model_dir), "--out", str(tmp_path / "x.png"), *extra]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("repeats", [20, 8000])  # 260 bytes and 104 KB; the tiny pipeline reads 120
def test_generate_refuses_a_prompt_longer_than_the_model_reads(model_dir, tmp_path, capsys, repeats):
    long = "a red circle " * repeats
    assert main(["generate", long, "--model", str(model_dir), "--out", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert f"is {len(long)} tokens; this model reads at most 120" in err and err.count("\n") == 1


@pytest.mark.parametrize("out, needle", [
    ("folder.png", "is a folder"), ("file/x.png", "is not a folder"), ("x.jpg", "must name a .png file"),
])
def test_generate_bad_out_is_one_line_before_any_work(model_dir, tmp_path, capsys, out, needle):
    (tmp_path / "folder.png").mkdir()
    (tmp_path / "file").write_text("x")
    assert main(["generate", "x", "--model", str(model_dir), "--out", str(tmp_path / out)]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "folder.png"]


def test_generate_on_a_full_disk_leaves_no_image(model_dir, tmp_path, capsys, monkeypatch):
    import tokenshuffle.output as output

    calls = []

    def full(path, write):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")
        write(path)

    real = output.write_files
    monkeypatch.setattr(output, "write_files", lambda writes: real({p: (lambda t, p=p, w=w: full(t, w))
                                                                     for p, w in writes.items()}))
    monkeypatch.setattr("tokenshuffle.cli.generate.write_files", output.write_files)
    assert main(["generate", "x", "--model", str(model_dir), "--num-images", "2", "--out",
                 str(tmp_path / "x.png")]) == 2
    assert "No space left on device" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_model_names_the_shipped_pipelines_and_a_folder_of_that_name_wins(tmp_path, monkeypatch, capsys):
    from tokenshuffle.cli.generate import DEFAULT_MODEL, SHIPPED_MODELS, model_folder

    assert model_folder(None) == DEFAULT_MODEL == SHIPPED_MODELS["demo"]
    for name, folder in SHIPPED_MODELS.items():
        assert model_folder(name) == folder and (folder / "pipeline.json").is_file()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "emoji").mkdir()
    assert model_folder("emoji").resolve() == (tmp_path / "emoji").resolve()
    assert main(["generate", "a cat", "--model", "emojis"]) == 2
    err = capsys.readouterr().err
    assert "--model emojis" in err and "demo, emoji" in err
