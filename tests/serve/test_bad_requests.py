"""Every bad request: a 4xx with {"error": {"message", "param"}}, never a 5xx, and /health still answers."""

import pytest
from fastapi.testclient import TestClient

from tests.serve.server_process import make_app

JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def client(pipe):
    with TestClient(make_app(pipe, max_n=4)) as c:
        yield c


def check(client, r, status: int, param: str | None) -> dict:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["message"] and err["param"] == param
    assert client.get("/health").status_code == 200
    return err


@pytest.mark.parametrize("body,status,param", [
    ({"prompt": "x", "n": 5}, 400, "n"),
    ({"prompt": "x", "n": 0}, 400, "n"),
    ({"prompt": "x", "n": True}, 400, "n"),
    ({"prompt": "x", "size": "100x100"}, 400, "size"),
    ({"prompt": "x", "size": "4096x4096"}, 400, "size"),
    ({"prompt": "x", "size": "large"}, 400, "size"),
    ({"prompt": "x", "guidance_scale": -1}, 400, "guidance_scale"),
    ({"prompt": "x", "temperature": -0.5}, 400, "temperature"),
    ({"prompt": "x", "seed": -3}, 400, "seed"),
    ({"prompt": "x", "top_p": 0}, 400, "top_p"),
    ({"prompt": "x", "top_k": -1}, 400, "top_k"),
    ({"prompt": "x", "candidates": 9}, 400, "candidates"),
    ({"prompt": "x", "cfg_schedule": "cosine"}, 400, "cfg_schedule"),
    ({"prompt": "x", "response_format": "url"}, 400, "response_format"),
    ({"prompt": ""}, 400, "prompt"),
    ({"prompt": "   "}, 400, "prompt"),
    ({"prompt": "x" * 1_000_000}, 400, "prompt"),
    ({"prompt": 7}, 400, "prompt"),
    ({}, 400, "prompt"),
    ({"prompt": "x", "style": "vivid"}, 400, "style"),
])
def test_bad_field(client, body, status, param):
    check(client, client.post("/v1/images/generations", json=body), status, param)


@pytest.mark.parametrize("raw,param", [
    (b'{"prompt": "x", "temperature": NaN}', "temperature"),
    (b'{"prompt": "x", "guidance_scale": Infinity}', "guidance_scale"),
    (b'{"prompt": "x", "top_p": -Infinity}', "top_p"),
    (b'{"prompt": "x", "guidance_scale": 1e999}', "guidance_scale"),
])
def test_nan_and_infinite_numbers(client, raw, param):
    check(client, client.post("/v1/images/generations", content=raw, headers=JSON), 400, param)


@pytest.mark.parametrize("raw", [b'{"prompt": "x"', b"not json", b"\xff\xfe", b"[1, 2]", b""])
def test_malformed_json(client, raw):
    check(client, client.post("/v1/images/generations", content=raw, headers=JSON), 400, None)


def test_wrong_content_type(client):
    r = client.post("/v1/images/generations", content=b'{"prompt": "x"}', headers={"content-type": "text/plain"})
    check(client, r, 415, None)
    r = client.post("/v1/images/generations", data={"prompt": "x"})  # a form post
    check(client, r, 415, None)


def test_body_over_the_limit(client):
    r = client.post("/v1/images/generations", content=b" " * (3 * 1024 * 1024), headers=JSON)
    check(client, r, 413, None)


def test_stream_endpoint_checks_the_same_way(client):
    check(client, client.post("/v1/images/generations/stream", json={"prompt": "x", "n": 9}), 400, "n")


def test_unknown_route_and_method_are_json_4xx(client):
    assert client.get("/v1/nothing").json()["error"]["message"]
    r = client.get("/v1/images/generations")
    assert r.status_code == 405 and r.json()["error"]["message"]


def test_full_queue_answers_429_with_retry_after(client):
    scheduler = client.app.state.scheduler
    scheduler.max_queue, before = 0, scheduler.max_queue  # every submit finds the queue full
    try:
        r = client.post("/v1/images/generations", json={"prompt": "x"})
    finally:
        scheduler.max_queue = before
    err = check(client, r, 429, None)
    assert int(r.headers["retry-after"]) >= 1 and "queue is full" in err["message"]
    assert 'outcome="rejected"} 1' in client.get("/metrics").text
