import threading

import pytest

from tokenshuffle.serve.metrics import Metrics
from tokenshuffle.serve.scheduler import Job, Scheduler
from tokenshuffle.serve.schemas import APIError, GenerationRequest, Limits, to_spec


def spec(pipe, **fields):
    return to_spec(GenerationRequest(prompt="a red circle", **fields), pipe, Limits())


class Recorder:
    def __init__(self, on_event=None):
        self.events, self.on_event, self.done = [], on_event, threading.Event()

    def __call__(self, event):
        self.events.append(event)
        if self.on_event:
            self.on_event(event)
        if event["type"] in ("done", "error"):
            self.done.set()


def run_jobs(scheduler, jobs):
    for job in jobs:
        scheduler.submit(job)
    scheduler.start()
    for job in jobs:
        assert job.sink.done.wait(60)
    scheduler.stop(grace_s=5)


def test_a_full_queue_raises_429_with_retry_after(pipe):
    scheduler = Scheduler(pipe, metrics=Metrics(), max_queue=1)  # not started: nothing leaves the queue
    scheduler.submit(Job(spec(pipe), sink=Recorder(), timeout_s=60))
    with pytest.raises(APIError) as exc:
        scheduler.submit(Job(spec(pipe), sink=Recorder(), timeout_s=60))
    assert exc.value.status == 429 and int(exc.value.headers["Retry-After"]) >= 1


def test_requests_of_one_size_and_sampling_share_a_batch_others_wait(pipe):
    scheduler = Scheduler(pipe, metrics=Metrics())
    jobs = [Job(spec(pipe, seed=i, size=size), sink=Recorder(), timeout_s=60)
            for i, size in enumerate(["64x64", "64x64", "128x64"])]
    run_jobs(scheduler, jobs)
    started = [next(e for e in j.sink.events if e["type"] == "started") for j in jobs]
    assert [s["batch_requests"] for s in started] == [2, 2, 1]
    assert all(j.sink.events[-1]["type"] == "done" for j in jobs)


def test_a_disconnected_client_has_its_rows_dropped_and_the_batch_goes_on(pipe):
    metrics = Metrics()
    scheduler = Scheduler(pipe, metrics=metrics)
    leaving = Job(spec(pipe, seed=1, size="128x128"), sink=None, timeout_s=60)
    leaving.sink = Recorder(on_event=lambda e: e["type"] == "progress" and leaving.cancel("disconnected"))
    staying = Job(spec(pipe, seed=2, size="128x128"), sink=Recorder(), timeout_s=60)
    kept = []
    original = scheduler._drop_cancelled

    def watch(batch):  # record the decoder batch's rows after every drop
        original(batch)
        kept.append(batch.out.shape[0])

    scheduler._drop_cancelled = watch
    run_jobs(scheduler, [leaving, staying])
    assert leaving.sink.events[-1] == {"type": "error", "status": 499, "message": "the client disconnected"}
    assert staying.sink.events[-1]["type"] == "done"
    rows = staying.spec.rows
    assert kept[0] == 2 * rows and kept[-1] == rows  # the leaving request's rows were cut out
    assert metrics.requests["cancelled"] == 1 and metrics.requests["ok"] == 1


def test_a_request_past_its_time_limit_is_answered_504(pipe):
    metrics = Metrics()
    scheduler = Scheduler(pipe, metrics=metrics)
    job = Job(spec(pipe), sink=Recorder(), timeout_s=0)
    run_jobs(scheduler, [job])
    assert job.sink.events[-1]["status"] == 504 and metrics.requests["timeout"] == 1


def test_drain_answers_waiting_requests_503_and_refuses_new_ones(pipe):
    scheduler = Scheduler(pipe, metrics=Metrics())
    job = Job(spec(pipe), sink=Recorder(), timeout_s=60)
    scheduler.submit(job)
    scheduler.drain()
    assert job.sink.events[-1]["status"] == 503
    with pytest.raises(APIError) as exc:
        scheduler.submit(Job(spec(pipe), sink=Recorder(), timeout_s=60))
    assert exc.value.status == 503


def test_cancel_reason_must_be_known(pipe):
    with pytest.raises(ValueError, match="reason must be one of"):
        Job(spec(pipe), sink=Recorder(), timeout_s=1).cancel("bored")


def test_same_seed_same_images_in_a_shared_batch(pipe):
    """Two equal requests in one batch draw from their own generators: the same seed gives the same codes."""
    scheduler = Scheduler(pipe, metrics=Metrics())
    jobs = [Job(spec(pipe, seed=9), sink=Recorder(), timeout_s=60) for _ in range(2)]
    run_jobs(scheduler, jobs)
    a, b = (j.sink.events[-1]["data"][0]["b64_json"] for j in jobs)
    assert a == b


def test_a_client_that_left_the_queue_frees_its_place(pipe):
    metrics = Metrics()
    scheduler = Scheduler(pipe, metrics=metrics, max_queue=1)  # not started
    first = Job(spec(pipe), sink=Recorder(), timeout_s=60)
    scheduler.submit(first)
    first.cancel("disconnected")
    scheduler.submit(Job(spec(pipe), sink=Recorder(), timeout_s=60))  # no 429: the place was free
    assert scheduler.queue_depth == 1 and metrics.requests["cancelled"] == 1
