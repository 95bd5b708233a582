import json

import pytest
import torch

import tokenshuffle as ts
from tokenshuffle.cli import main
from tokenshuffle.data.prompts import load_eval_prompts
from tokenshuffle.eval.t2i import evaluate_pipeline
from tokenshuffle.model.io import save_lm
from tokenshuffle.pipeline import TextToImagePipeline
from tokenshuffle.text import ByteTokenizer, save_text_tokenizer
from tokenshuffle.vq.autoencoder import VQTokenizer
from tokenshuffle.vq.config import VQConfig


@pytest.fixture
def run_and_vq(tmp_path):
    torch.manual_seed(0)
    vq = VQTokenizer(VQConfig.preset("vq-16-tiny"))
    vq.save_pretrained(tmp_path / "vq")
    # max_text_len: the held-out prompts in bytes (a longer prompt is refused, never cut)
    lm = ts.TokenShuffleLM(ts.LMConfig.preset("tiny", shuffle_window=2, image_vocab_size=vq.codebook_size,
                                              max_text_len=120))
    save_lm(lm, tmp_path / "run" / "lm")
    save_text_tokenizer(ByteTokenizer(), tmp_path / "run" / "text_tokenizer.json")
    return tmp_path / "run", tmp_path / "vq"


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


def test_evaluate_pipeline_scores_every_prompt_and_is_reproducible(run_and_vq):
    run, vq = run_and_vq
    from tokenshuffle.model.io import load_lm

    pipe = TextToImagePipeline(vq=VQTokenizer.from_pretrained(vq), lm=load_lm(run / "lm"),
                               height=64, width=64)
    prompts = load_eval_prompts("val")[:5]
    a = evaluate_pipeline(pipe, prompts, images_per_prompt=2, batch_size=4, seed=1, guidance_scale=2.0)
    b = evaluate_pipeline(pipe, prompts, images_per_prompt=2, batch_size=4, seed=1, guidance_scale=2.0)
    assert a["num_images"] == 10 and sum(a["num_per_task"].values()) == 10
    assert [r["prompt"] for r in a["results"]][::2] == [p["prompt"] for p in prompts]
    assert a["overall"] == b["overall"] and a["seconds_per_image"] > 0
    with pytest.raises(ValueError, match="cfg_schedule"):
        evaluate_pipeline(pipe, prompts, cfg_schedule="cubic")


def test_eval_t2i_cli_prints_one_row_per_schedule(tmp_path, run_and_vq, capsys):
    run, vq = run_and_vq
    pipe = tmp_path / "pipe"
    assert main(["export", "--run", str(run), "--vq", str(vq), "--out", str(pipe), "--height", "64",
                 "--width", "64"]) == 0
    prompts = tmp_path / "p.jsonl"
    prompts.write_text("".join(json.dumps(p) + "\n" for p in load_eval_prompts("val")[:3]))
    code = main(["eval", "t2i", "--model", str(pipe), "--prompts", str(prompts), "--cfg-schedule",
                 "constant,linear", "--json", str(tmp_path / "r.json")])
    assert code == 0
    out = capsys.readouterr().out
    assert "| constant | 1 |" in out and "| linear | 1 |" in out
    assert [r["cfg_schedule"] for r in json.loads((tmp_path / "r.json").read_text())] == ["constant", "linear"]
    assert main(["eval", "t2i", "--model", str(pipe), "--prompts", "nope"]) == 2
    assert "prompts must be 'val', 'hard'" in capsys.readouterr().err


def test_eval_t2i_cli_candidates_rows_and_export_default(tmp_path, run_and_vq, capsys):
    run, vq = run_and_vq
    pipe = tmp_path / "pipe"
    assert main(["export", "--run", str(run), "--vq", str(vq), "--out", str(pipe), "--height", "64",
                 "--width", "64", "--candidates", "2"]) == 0
    assert json.loads((pipe / "pipeline.json").read_text())["sampling"]["candidates"] == 2
    prompts = tmp_path / "p.jsonl"
    prompts.write_text("".join(json.dumps(p) + "\n" for p in load_eval_prompts("val")[:2]))
    capsys.readouterr()
    assert main(["eval", "t2i", "--model", str(pipe), "--prompts", str(prompts), "--candidates", "1,3",
                 "--out", str(tmp_path / "imgs"), "--json", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "| half-linear | 1 |" in out and "| half-linear | 3 |" in out
    assert [r["candidates"] for r in json.loads((tmp_path / "r.json").read_text())] == [1, 3]
    assert len(list((tmp_path / "imgs" / "default-n3").glob("*.png"))) == 2
    assert main(["eval", "t2i", "--model", str(pipe), "--prompts", str(prompts)]) == 0
    assert "| half-linear | 2 |" in capsys.readouterr().out  # the folder's default
    for bad in ("0", "two"):
        assert main(["eval", "t2i", "--model", str(pipe), "--prompts", str(prompts), "--candidates", bad]) == 2
        err = capsys.readouterr().err
        assert "candidates" in err and err.count("\n") == 1
    assert main(["export", "--run", str(run), "--vq", str(vq), "--out", str(tmp_path / "p2"),
                 "--candidates", "0"]) == 2
    assert "candidates" in capsys.readouterr().err and not (tmp_path / "p2").exists()
