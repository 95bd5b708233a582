import base64
import io
import json

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient
from PIL import Image

import tokenshuffle as ts
from tests.serve.server_process import make_app


def decode_png(b64: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(b64))).convert("RGB")


@pytest.fixture
def client(pipe):
    with TestClient(make_app(pipe)) as c:
        yield c


def test_images_have_the_asked_size_and_match_the_pipeline_for_the_same_seed(client, pipe):
    r = client.post("/v1/images/generations", json={"prompt": "a red circle", "size": "128x64", "n": 2, "seed": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    images = [decode_png(d["b64_json"]) for d in body["data"]]
    assert body["seed"] == 5 and [im.size for im in images] == [(128, 64), (128, 64)]
    # Alone in its batch, a request draws exactly what the pipeline (tokenshuffle generate) draws.
    expected = pipe("a red circle", height=64, width=128, num_images=2, generator=torch.Generator().manual_seed(5))
    assert [im.tobytes() for im in images] == [im.tobytes() for im in expected]


def test_a_request_without_seed_gets_a_random_one_and_reports_it(client):
    seeds = {client.post("/v1/images/generations", json={"prompt": "x"}).json()["seed"] for _ in range(2)}
    assert len(seeds) == 2


def test_stream_sends_previews_before_the_final_png(client):
    events = []
    with client.stream("POST", "/v1/images/generations/stream", json={"prompt": "x", "size": "128x128"}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: ")]
    kinds = [e["type"] for e in events]
    assert kinds[0] == "queued" and kinds[1] == "started" and kinds[-1] == "done"
    previews = [e["previews"][0] for e in events if e.get("previews")]
    assert len(previews) == 3  # 128x128: 4 window rows, a preview after rows 1, 2 and 3
    first = decode_png(previews[0])
    assert first.size == (128, 128)
    pixels = np.asarray(first)  # (128, 128, 3)
    assert (pixels[32:] == 128).all()  # undecoded window rows are grey
    assert pixels[:32].std() > 1  # the decoded one is not
    assert decode_png(events[-1]["data"][0]["b64_json"]).size == (128, 128)


def test_health_config_and_docs(client):
    assert client.get("/health").json()["status"] == "ok"
    cfg = client.get("/v1/config").json()
    assert cfg["default_size"] == "64x64" and cfg["defaults"]["candidates"] == 2
    assert cfg["size_defaults"] == {}
    assert "/v1/images/generations" in client.get("/openapi.json").json()["paths"]
    assert client.get("/docs").status_code == 200
    assert "<form" in client.get("/").text


def test_a_size_with_its_own_sampling_is_served_with_it(tiny_pipeline):
    from tokenshuffle.serve.schemas import GenerationRequest, Limits, to_spec

    pipe = tiny_pipeline(max_text_len=32, size_sampling={"128x64": {"temperature": 0.0}})
    with TestClient(make_app(pipe)) as c:
        cfg = c.get("/v1/config").json()
    assert cfg["size_defaults"]["128x64"]["temperature"] == 0.0 and cfg["defaults"]["temperature"] == 1.0
    spec = lambda **f: to_spec(GenerationRequest(prompt="x", **f), pipe, Limits())  # noqa: E731
    assert spec(size="128x64").sampling.temperature == 0.0 and spec().sampling.temperature == 1.0
    assert spec(size="128x64", temperature=0.5).sampling.temperature == 0.5


def test_the_page_offers_the_squares_the_model_serves_and_its_own_grids(tiny_pipeline):
    pipe = tiny_pipeline()
    with TestClient(make_app(pipe)) as c:
        assert c.get("/v1/config").json()["sizes"] == ["256x256", "384x384", "512x512"]
    cfg = ts.LMConfig.preset("tiny", shuffle_window=2, image_vocab_size=pipe.lm.config.image_vocab_size,
                             max_text_len=120, grid_windows=((8, 16, 4),))
    pipe.lm = ts.TokenShuffleLM(cfg).eval()
    with TestClient(make_app(pipe)) as c:
        assert c.get("/v1/config").json()["sizes"] == ["256x256", "384x384", "512x512", "256x128"]


def test_metrics_count_requests_by_outcome_and_latency(client):
    client.post("/v1/images/generations", json={"prompt": "x"})
    client.post("/v1/images/generations", json={"prompt": ""})
    text = client.get("/metrics").text
    assert 'tokenshuffle_requests_total{outcome="ok"} 1' in text
    assert 'tokenshuffle_requests_total{outcome="bad_request"} 1' in text
    assert "tokenshuffle_images_total 1" in text
    assert 'tokenshuffle_request_latency_seconds_bucket{le="+Inf"} 1' in text
    assert "# TYPE tokenshuffle_queue_depth gauge" in text
