"""A real ``tokenshuffle serve`` process on 127.0.0.1: SIGTERM answers the open requests and exits 0."""

import json
import signal
import threading

import httpx
import pytest

from tests.serve.server_process import start_server


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, tiny_pipeline):
    return tiny_pipeline(max_text_len=32).save_pretrained(tmp_path_factory.mktemp("serve") / "tiny")


def stream_events(url, body, events, started, kinds=("started", "queued")):
    with httpx.stream("POST", f"{url}/v1/images/generations/stream", json=body, timeout=120) as r:
        for line in r.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
                if events[-1]["type"] in kinds:
                    started.set()


def test_sigterm_answers_open_requests_and_exits_0(model_dir):
    proc, url = start_server(model_dir, "--max-batch", "64", "--grace", "60")
    try:
        # A long batch (512x512 is 256 positions, 2 x 8 candidates) and a request of another size queued behind it.
        running, waiting = [], []
        started, queued = threading.Event(), threading.Event()
        threads = [threading.Thread(target=stream_events, args=(
            url, {"prompt": "x", "size": "512x512", "n": 2, "candidates": 8}, running, started, ("progress",)))]
        threads[0].start()
        assert started.wait(60)
        threads.append(threading.Thread(target=stream_events, args=(url, {"prompt": "y"}, waiting, queued)))
        threads[1].start()
        assert queued.wait(60)
        proc.send_signal(signal.SIGTERM)
        for t in threads:
            t.join(120)
        assert proc.wait(120) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    stderr = proc.stderr.read()
    assert "Traceback" not in stderr, stderr
    assert running[-1]["type"] == "done", running[-1]  # the batch in flight finished within the grace period
    assert waiting[-1] == {"type": "error", "status": 503, "message": "the server is shutting down"}


def test_bad_flags_exit_2_before_loading(tmp_path):
    from tokenshuffle.cli import main

    assert main(["serve", "--port", "70000"]) == 2
    assert main(["serve", "--max-queue", "0"]) == 2
    assert main(["serve", "--model", str(tmp_path / "missing")]) == 2


def test_a_client_that_disconnects_is_cancelled_not_finished(model_dir):
    import time

    proc, url = start_server(model_dir)
    try:
        body = {"prompt": "x", "size": "512x512", "n": 2, "candidates": 8}
        with httpx.stream("POST", f"{url}/v1/images/generations/stream", json=body, timeout=60) as r:
            for line in r.iter_lines():
                if line.startswith("event: started"):
                    break  # leave mid-decode: closing the stream drops the connection
        deadline = time.monotonic() + 60
        while 'outcome="cancelled"} 1' not in (text := httpx.get(f"{url}/metrics").text):
            assert time.monotonic() < deadline, text
            time.sleep(0.2)
        assert 'outcome="ok"} 0' in text
        while httpx.get(f"{url}/health").json()["running"]:  # the batch stops: its only request is gone
            assert time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        proc.terminate()
        assert proc.wait(60) == 0
