import json

import pytest
import torch

from tokenshuffle.cli import main
from tokenshuffle.pipeline import TextToImagePipeline


def test_export_writes_a_half_precision_pipeline_that_generates_like_the_original(tmp_path, run_and_vq):
    run, vq = run_and_vq
    out = tmp_path / "pipe"
    assert main(["export", "--run", str(run), "--vq", str(vq), "--out", str(out), "--height", "64",
                 "--width", "64", "--cfg-schedule", "linear", "--dtype", "fp16"]) == 0
    assert json.loads((out / "pipeline.json").read_text())["sampling"]["cfg_schedule"] == "linear"
    from safetensors.torch import load_file

    assert {t.dtype for t in load_file(out / "lm" / "model.safetensors").values() if t.is_floating_point()} == {
        torch.float16}
    assert {t.dtype for t in load_file(out / "vq" / "model.safetensors").values() if t.is_floating_point()} == {
        torch.float16}
    pipe = TextToImagePipeline.from_pretrained(out)
    images = pipe("a red circle", num_images=2, generator=torch.Generator().manual_seed(0))
    assert [im.size for im in images] == [(64, 64)] * 2
    assert not (tmp_path / "pipe.tmp").exists()


def test_export_keeps_sampling_for_named_sizes(tmp_path, run_and_vq, capsys):
    run, vq = run_and_vq
    args = ["export", "--run", str(run), "--vq", str(vq), "--height", "64", "--width", "64", "--temperature", "0.7"]
    assert main([*args, "--out", str(tmp_path / "p"), "--size-sampling", "128x64:temperature=1.0,top_k=none",
                 "--size-sampling", "128x64:cfg_schedule=linear"]) == 0
    sizes = json.loads((tmp_path / "p" / "pipeline.json").read_text())["sizes"]
    assert sizes == {"128x64": {"temperature": 1.0, "top_k": None, "cfg_schedule": "linear"}}
    for bad, needle in [("128x64", "--size-sampling must look like"), ("128x64:temperature", "must look like"),
                        ("128x48:temperature=1", "--size-sampling: 128x48: height=48 is not a size"),
                        ("128x64:temperature=-1", "--size-sampling: 128x64: temperature must be in [0, inf)")]:
        assert main([*args, "--out", str(tmp_path / "q"), "--size-sampling", bad]) == 2
        err = capsys.readouterr().err
        assert needle in err and err.count("\n") == 1, err
    assert not (tmp_path / "q").exists()


def test_export_rejects_bad_dtype_and_missing_run(tmp_path, run_and_vq, capsys):
    run, vq = run_and_vq
    assert main(["export", "--run", str(run), "--vq", str(vq), "--out", str(tmp_path / "p"), "--dtype", "int8"]) == 2
    assert "--dtype must be one of fp32, bf16, fp16" in capsys.readouterr().err
    assert main(["export", "--run", str(tmp_path), "--vq", str(vq), "--out", str(tmp_path / "p")]) == 2
    assert "has no lm/ folder" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()


def test_export_keep_carries_named_files_and_never_deletes_the_rest(tmp_path, run_and_vq, capsys):
    run, vq = run_and_vq
    out = tmp_path / "pipe"
    args = ["export", "--run", str(run), "--vq", str(vq), "--out", str(out)]
    assert main(args) == 0
    (out / "README.md").write_text("model card")
    (out / "notes.txt").write_text("scratch")
    assert main(args + ["--keep", "README.md"]) == 2  # notes.txt would be lost
    assert "holds notes.txt, which export would delete" in capsys.readouterr().err
    assert main(args + ["--keep", "README.md", "--keep", "notes.txt"]) == 0
    assert (out / "README.md").read_text() == "model card" and (out / "notes.txt").read_text() == "scratch"
    assert (out / "pipeline.json").is_file()
    assert main(args) == 2 and (out / "README.md").exists()


@pytest.mark.parametrize("name, message", [("README.md", "--keep README.md: not a plain file"),
                                           ("pipeline.json", "--keep takes a file name inside --out"),
                                           ("../x", "--keep takes a file name inside --out")])
def test_export_keep_rejects_missing_or_written_names_before_writing(tmp_path, run_and_vq, capsys, name, message):
    run, vq = run_and_vq
    out = tmp_path / "pipe"
    assert main(["export", "--run", str(run), "--vq", str(vq), "--out", str(out), "--keep", name]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "pipe.tmp").exists()


def test_export_never_deletes_a_folder_it_did_not_write(tmp_path, run_and_vq, capsys):
    run, vq = run_and_vq
    out = tmp_path / "precious"
    (out / "sub").mkdir(parents=True)
    (out / "precious.txt").write_text("mine")
    (out / "sub" / "data.bin").write_bytes(b"\1\2")
    assert main(["export", "--run", str(run), "--vq", str(vq), "--out", str(out)]) == 2
    assert "exists and is not a pipeline folder" in capsys.readouterr().err
    assert (out / "precious.txt").read_text() == "mine" and (out / "sub" / "data.bin").read_bytes() == b"\1\2"
    (tmp_path / "file").write_text("x")
    assert main(["export", "--run", str(run), "--vq", str(vq), "--out", str(tmp_path / "file")]) == 2
    assert (tmp_path / "file").read_text() == "x"


def test_a_stale_tmp_folder_is_never_merged_into_an_export(tmp_path, run_and_vq):
    run, vq = run_and_vq
    out = tmp_path / "pipe"
    (tmp_path / "pipe.tmp").mkdir()
    (tmp_path / "pipe.tmp" / "stale.txt").write_text("old")
    assert main(["export", "--run", str(run), "--vq", str(vq), "--out", str(out)]) == 0
    assert not (out / "stale.txt").exists() and (tmp_path / "pipe.tmp" / "stale.txt").exists()


def test_export_keep_does_not_follow_links_and_files_are_world_readable(tmp_path, run_and_vq, capsys):
    import os

    run, vq = run_and_vq
    out = tmp_path / "pipe"
    assert main(["export", "--run", str(run), "--vq", str(vq), "--out", str(out)]) == 0
    secret = tmp_path / "secret"
    secret.write_text("do not copy")
    (out / "README.md").symlink_to(secret)
    assert main(["export", "--run", str(run), "--vq", str(vq), "--out", str(out), "--keep", "README.md"]) == 2
    assert "not a plain file" in capsys.readouterr().err
    mask = os.umask(0)
    os.umask(mask)
    (out / "README.md").unlink()
    assert main(["export", "--run", str(run), "--vq", str(vq), "--out", str(out)]) == 0
    for f in out.rglob("*"):
        assert f.stat().st_mode & 0o777 == (0o777 if f.is_dir() else 0o666) & ~mask, f


def test_export_takes_a_checkpoint_of_a_run(tmp_path, run_and_vq):
    from tokenshuffle.model.io import load_lm, save_lm

    run, vq = run_and_vq
    lm = load_lm(run / "lm")
    with torch.no_grad():
        for p in lm.parameters():
            p.add_(0.01)  # a checkpoint whose weights differ from the run's final ones
    save_lm(lm, run / "checkpoints" / "step_00000010")
    out = tmp_path / "pipe"
    assert main(["export", "--run", str(run / "checkpoints" / "step_00000010"), "--vq", str(vq), "--out", str(out),
                 "--height", "64", "--width", "64", "--dtype", "fp32"]) == 0
    exported = load_lm(out / "lm").state_dict()
    assert [k for k, v in lm.state_dict().items() if not torch.equal(v, exported[k])] == []
    assert (out / "text_tokenizer.json").read_text() == (run / "text_tokenizer.json").read_text()
    assert main(["export", "--run", str(run / "checkpoints"), "--vq", str(vq), "--out", str(tmp_path / "p2")]) == 2


def test_export_writes_the_colour_strength_asked_for_and_refuses_it_elsewhere(tmp_path, run_and_vq, tiny_lm, capsys):
    from tokenshuffle.model.io import load_lm, save_lm

    run, vq = run_and_vq
    args = ["export", "--vq", str(vq), "--height", "64", "--width", "64"]
    assert main([*args, "--run", str(run), "--out", str(tmp_path / "p"), "--colour-strength", "8"]) == 2
    err = capsys.readouterr().err
    assert "--colour-strength: this model has no prompt-colour term" in err and err.count("\n") == 1, err
    coloured = tiny_lm(2, image_vocab_size=load_lm(run / "lm").config.image_vocab_size, prompt_colours=3)
    save_lm(coloured, run / "lm")
    for bad in ("0", "-1", "nan", "inf"):
        assert main([*args, "--run", str(run), "--out", str(tmp_path / "p"), "--colour-strength", bad]) == 2
        assert "--colour-strength must be in (0, inf)" in capsys.readouterr().err
    assert not (tmp_path / "p").exists()
    assert main([*args, "--run", str(run), "--out", str(tmp_path / "p"), "--colour-strength", "8",
                 "--dtype", "fp32"]) == 0
    assert float(load_lm(tmp_path / "p" / "lm").prompt_colours.strength.detach()) == 8.0
    assert main([*args, "--run", str(run), "--out", str(tmp_path / "q"), "--dtype", "fp32"]) == 0
    kept = load_lm(tmp_path / "q" / "lm").prompt_colours.strength.detach()
    assert float(kept) == float(coloured.prompt_colours.strength.detach())  # as trained without the option
