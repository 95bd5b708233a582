import json

import pytest

from tests.serve.server_process import start_server
from tokenshuffle.serve import loadtest


def test_refuses_a_server_on_another_machine(capsys):
    assert loadtest.main(["--url", "http://example.com:8000", "--clients", "1", "--requests", "1"]) == 2
    assert "must point at" in capsys.readouterr().err


@pytest.mark.parametrize("flag", [["--clients", "0"], ["--requests", "0"], ["--time-limit", "0"]])
def test_refuses_unbounded_or_empty_runs(flag):
    assert loadtest.main(["--url", "http://127.0.0.1:1", *flag]) == 2


def test_counts_every_request_against_a_real_server(tmp_path, tiny_pipeline):
    model = tiny_pipeline(max_text_len=32).save_pretrained(tmp_path / "tiny")
    proc, url = start_server(model)
    try:
        out = tmp_path / "r.jsonl"
        code = loadtest.main(["--url", url, "--clients", "2", "--requests", "2", "--size", "64x64",
                              "--json", str(out)])
        bad = loadtest.main(["--url", url, "--clients", "1", "--requests", "1", "--size", "10x10"])
    finally:
        proc.terminate()
        proc.wait(60)
    row = json.loads(out.read_text())
    assert code == 0 and row["requests"] == 4 and row["errors"] == 0 and row["images_per_s"] > 0
    assert bad == 1  # a 400 counts as an error
