import json

import pytest

from tokenshuffle.cli import main
from tokenshuffle.data.prompts import load_eval_prompts
from tokenshuffle.eval.t2i import evaluate_pipeline
from tokenshuffle.model.io import load_lm
from tokenshuffle.pipeline import TextToImagePipeline
from tokenshuffle.vq.autoencoder import VQTokenizer


def test_evaluate_pipeline_scores_every_prompt_and_is_reproducible(run_and_vq):
    run, vq = run_and_vq
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
