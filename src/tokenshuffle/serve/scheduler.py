"""The batching scheduler: one decoder thread, a bounded queue, batches formed at batch boundaries.

Waiting requests with the same size and sampling settings are decoded together as one ``DecodeBatch``
(``serve.batch``); a request that arrives while a batch decodes waits for the next one (why not
continuous batching: docs/serve.md). Between decoder steps the thread cuts out the rows of requests
that were cancelled (client gone, time limit, shutdown) and sends previews to those that asked.
Events go to each job's ``sink`` (called from the decoder thread; the app hands them to asyncio).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable

import torch

from tokenshuffle.pipeline import to_pil
from tokenshuffle.serve.batch import DecodeBatch, Member
from tokenshuffle.serve.metrics import Metrics
from tokenshuffle.serve.preview import finished_window_rows, png_b64, preview_images
from tokenshuffle.serve.schemas import APIError, JobSpec

log = logging.getLogger("tokenshuffle.serve")

FAILURES = {  # cancel reason -> (metrics outcome, HTTP status, message)
    "timeout": ("timeout", 504, "the request ran past the server's time limit"),
    "disconnected": ("cancelled", 499, "the client disconnected"),
    "shutdown": ("shutdown", 503, "the server is shutting down"),
}


class Job:
    """One request in the scheduler; ``cancel`` may be called from any thread."""

    def __init__(self, spec: JobSpec, *, sink: Callable[[dict], None], timeout_s: float, previews: bool = False):
        self.spec, self.sink, self.previews = spec, sink, previews
        self.seed = spec.seed if spec.seed is not None else secrets.randbits(63)
        self.arrived = time.monotonic()
        self.deadline = self.arrived + timeout_s
        self.cancel_reason: str | None = None
        self.finished = False

    def cancel(self, reason: str) -> None:
        if reason not in FAILURES:
            raise ValueError(f"reason must be one of {', '.join(FAILURES)}; got {reason!r}")
        if self.cancel_reason is None:
            self.cancel_reason = reason

    def expired(self, now: float) -> bool:
        if self.cancel_reason is None and now > self.deadline:
            self.cancel_reason = "timeout"
        return self.cancel_reason is not None

    @property
    def group(self) -> tuple:
        return self.spec.grid, self.spec.sampling


class Scheduler:
    def __init__(self, pipe, *, metrics: Metrics, max_queue: int = 64, max_batch_rows: int = 64,
                 gather_s: float = 0.05, preview_rows: int = 2):
        if max_queue < 1 or max_batch_rows < 1 or preview_rows < 1:
            raise ValueError(f"max_queue, max_batch_rows and preview_rows must be >= 1, got {max_queue}, "
                             f"{max_batch_rows}, {preview_rows}")
        self.pipe, self.metrics = pipe, metrics
        self.max_queue, self.max_batch_rows = max_queue, max_batch_rows
        self.gather_s, self.preview_rows = gather_s, preview_rows
        self._cond = threading.Condition()
        self._waiting: list[Job] = []
        self._running: list[Job] = []
        self._draining = self._stopping = False
        self._batch_seconds = 5.0  # running mean of a batch's duration, for Retry-After
        self._thread = threading.Thread(target=self._loop, name="tokenshuffle-decoder", daemon=True)

    # ---- called from the server's threads ----
    def start(self) -> None:
        self._thread.start()

    @property
    def queue_depth(self) -> int:
        return len(self._waiting)

    @property
    def running(self) -> int:
        return len(self._running)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() and not self._draining

    def submit(self, job: Job) -> None:
        with self._cond:
            if self._draining:
                raise APIError(503, FAILURES["shutdown"][2])
            gone = self._purge_locked()  # requests whose clients left give their places up first
            full = len(self._waiting) >= self.max_queue
            if not full:
                self._waiting.append(job)
                position = len(self._waiting)
                self._cond.notify()
        for j in gone:
            self._fail(j)
        if full:
            retry = max(1, round(self._batch_seconds))
            raise APIError(429, f"the queue is full ({self.max_queue} requests waiting); retry in {retry} s",
                           headers={"Retry-After": str(retry)})
        job.sink({"type": "queued", "position": position, "seed": job.seed})

    def _purge_locked(self) -> list[Job]:
        """Take the cancelled and expired jobs out of the queue (lock held) -> those jobs, to be failed."""
        now = time.monotonic()
        gone = [j for j in self._waiting if j.expired(now)]
        self._waiting = [j for j in self._waiting if j.cancel_reason is None]
        return gone

    def drain(self) -> None:
        """Stop taking requests and cancel the waiting ones; the running batch goes on."""
        with self._cond:
            self._draining = True
            waiting, self._waiting = self._waiting, []
            self._cond.notify()
        for job in waiting:
            job.cancel("shutdown")
            self._fail(job)

    def stop(self, *, grace_s: float) -> None:
        """Drain, give the running batch ``grace_s`` to finish, then cancel it and join the thread."""
        self.drain()
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(grace_s)
        for job in list(self._running):
            job.cancel("shutdown")
        self._thread.join()

    # ---- the decoder thread ----
    def _loop(self) -> None:
        with torch.inference_mode():
            while True:
                with self._cond:
                    while not self._waiting and not self._stopping:
                        self._cond.wait()
                    if not self._waiting:
                        return
                time.sleep(self.gather_s)  # requests sent together arrive a few ms apart: let them join
                jobs = self._take()
                if jobs:
                    started = time.monotonic()
                    self._run(jobs)
                    self._batch_seconds = 0.7 * self._batch_seconds + 0.3 * (time.monotonic() - started)

    def _take(self) -> list[Job]:
        """The oldest waiting job and the later ones of its group that fit in one batch."""
        with self._cond:
            gone = self._purge_locked()
            jobs, rows = [], 0
            for job in self._waiting:
                if job.group == (self._waiting[0].group) and rows + job.spec.rows <= self.max_batch_rows:
                    jobs.append(job)
                    rows += job.spec.rows
            self._waiting = [j for j in self._waiting if j not in jobs]
            self._running = jobs
        for job in gone:
            self._fail(job)
        return jobs

    def _run(self, jobs: list[Job]) -> None:
        pipe = self.pipe
        grid, sampling = jobs[0].group
        device = pipe.lm.output.weight.device
        members = []
        for job in jobs:
            ids = pipe.text_tokenizer.encode(job.spec.prompt)
            texts = [ids for _ in range(job.spec.rows)]  # images x candidates, as sampling.generate lays them
            members.append(Member(key=job, texts=texts, generator=torch.Generator(device).manual_seed(job.seed)))
        batch = None
        try:
            batch = DecodeBatch(pipe.lm, members, grid=grid, sampling=sampling)
            for job in jobs:
                job.sink({"type": "started", "batch_requests": len(jobs), "positions": batch.num_positions})
            while not batch.done:
                self._drop_cancelled(batch)
                if batch.done:
                    break
                batch.step()
                self._progress(batch)
            results = batch.finish()
            for job, codes in results.items():
                self._succeed(job, to_pil(pipe.vq.decode(codes.to(device))))
        except Exception:  # noqa: BLE001 - a decoder failure must answer every request, not kill the thread
            log.exception("decoding a batch of %d requests failed", len(jobs))
            for job in jobs:
                if not job.finished:
                    job.finished = True
                    self.metrics.request("error", latency_s=time.monotonic() - job.arrived)
                    job.sink({"type": "error", "status": 500, "message": "the decoder failed; see the server log"})
        finally:
            if batch is not None:
                batch.close()
            with self._cond:
                self._running = []

    def _drop_cancelled(self, batch: DecodeBatch) -> None:
        now = time.monotonic()
        gone = [m.key for m in batch.members if m.key.expired(now)]
        if gone:
            batch.drop(set(gone))
            for job in gone:
                self._fail(job)

    def _progress(self, batch: DecodeBatch) -> None:
        s, grid = batch.lm.s, batch.grid
        per_row = grid[1] // s
        if batch.t % per_row:
            return
        rows_done = finished_window_rows(batch.t, grid=grid, s=s)
        rows_total = grid[0] // s
        with_preview = rows_done % self.preview_rows == 0 and rows_done < rows_total
        for m in batch.members:
            job = m.key
            event = {"type": "progress", "step": batch.t, "total": batch.num_positions,
                     "rows_done": rows_done, "rows_total": rows_total}
            if job.previews and with_preview:
                first = batch.windows_so_far(m)[:: batch.sampling.candidates]  # candidate 0 of each image
                event["previews"] = [png_b64(im) for im in preview_images(self.pipe.vq, first, grid=grid, s=s)]
            job.sink(event)

    def _succeed(self, job: Job, images) -> None:
        job.finished = True
        latency = time.monotonic() - job.arrived
        data = [{"b64_json": png_b64(im)} for im in images]
        self.metrics.request("ok", latency_s=latency, images=len(images))
        job.sink({"type": "done", "data": data, "seed": job.seed, "latency_s": round(latency, 3)})

    def _fail(self, job: Job) -> None:
        if job.finished:
            return
        job.finished = True
        outcome, status, message = FAILURES[job.cancel_reason]
        self.metrics.request(outcome, latency_s=time.monotonic() - job.arrived)
        job.sink({"type": "error", "status": status, "message": message})
