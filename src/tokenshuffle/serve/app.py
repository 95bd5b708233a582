"""The FastAPI app: the OpenAI-shaped images endpoint, its streaming twin, /health, /metrics and the page.

Every error is a JSON body ``{"error": {"message", "param", "type"}}``; a client mistake is a 4xx
and is checked before anything is queued. The decoder runs in the scheduler's own thread, so the
event loop stays free to answer /health while a batch decodes.
"""

from __future__ import annotations

import asyncio
import json
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from tokenshuffle.pipeline import parse_size
from tokenshuffle.sampling import SCHEDULES
from tokenshuffle.serve.metrics import Metrics
from tokenshuffle.serve.scheduler import Job, Scheduler
from tokenshuffle.serve.schemas import (
    MAX_BODY_BYTES,
    APIError,
    GenerationRequest,
    JobSpec,
    Limits,
    check_size,
    default_sampling,
    default_size,
    parse_body,
    to_spec,
)


@dataclass(frozen=True)
class ServeConfig:
    """How the server batches and bounds its work (``tokenshuffle serve`` flags)."""

    limits: Limits = Limits()
    max_queue: int = 64
    timeout_s: float = 600.0  # every request's time limit, from arrival to its answer
    gather_s: float = 0.05  # how long a new batch waits for more simultaneous arrivals
    preview_rows: int = 2  # a streamed preview every this many window rows
    grace_s: float = 30.0  # on shutdown, how long the running batch may still finish

    def __post_init__(self) -> None:
        for name in ("max_queue", "preview_rows"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("timeout_s", "gather_s", "grace_s"):
            if not 0 <= getattr(self, name) < float("inf"):
                raise ValueError(f"{name} must be a finite number >= 0, got {getattr(self, name)}")


REQUEST_SCHEMA = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": GenerationRequest.model_json_schema()}}}}


def create_app(pipe, config: ServeConfig = ServeConfig(), *, model_name: str = "tokenshuffle") -> FastAPI:
    metrics = Metrics()
    scheduler = Scheduler(pipe, metrics=metrics, max_queue=config.max_queue,
                          max_batch_rows=config.limits.max_batch_rows, gather_s=config.gather_s,
                          preview_rows=config.preview_rows)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        scheduler.start()
        yield
        await asyncio.to_thread(scheduler.stop, grace_s=config.grace_s)

    app = FastAPI(title="tokenshuffle", version="0.1.0", lifespan=lifespan,
                  description="Token-Shuffle text-to-image generation: OpenAI-shaped images API, streamed previews.")
    app.state.scheduler, app.state.metrics, app.state.pipe = scheduler, metrics, pipe

    _add_error_handlers(app, metrics)
    _add_info_routes(app, pipe, scheduler, metrics, config=config, model_name=model_name)
    _add_generation_routes(app, pipe, scheduler, config=config)
    return app


def _add_error_handlers(app: FastAPI, metrics: Metrics) -> None:
    """Every error as ``{"error": {"message", "param"}}``; user errors counted by outcome."""

    @app.exception_handler(APIError)
    async def api_error(request: Request, exc: APIError) -> JSONResponse:
        if exc.status == 429:
            metrics.request("rejected")
        elif exc.status < 500:
            metrics.request("bad_request")
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(APIError(exc.status_code, str(exc.detail)).body(), status_code=exc.status_code)


def _add_info_routes(app: FastAPI, pipe, scheduler: Scheduler, metrics: Metrics, *, config: ServeConfig,
                     model_name: str) -> None:
    """The page, /health, /metrics and /v1/config."""

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(resources.files("tokenshuffle.serve").joinpath("static/index.html").read_text("utf-8"))

    @app.get("/health")
    async def health() -> JSONResponse:
        ok = scheduler.alive
        body = {"status": "ok" if ok else "stopping", "queue_depth": scheduler.queue_depth,
                "running": scheduler.running}
        return JSONResponse(body, status_code=200 if ok else 503)

    @app.get("/metrics", response_class=PlainTextResponse)
    async def prometheus() -> PlainTextResponse:
        text = metrics.render(queue_depth=scheduler.queue_depth, running=scheduler.running)
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")

    @app.get("/v1/config")
    async def model_config() -> dict:
        """The model's defaults and this server's limits (the page fills its form from these)."""
        w, h = default_size(pipe)
        step = pipe.vq.downsample * pipe.lm.s
        sampling = default_sampling(pipe)
        return {"model": model_name, "default_size": f"{w}x{h}", "size_multiple": step,
                "sizes": _sizes(pipe),
                "schedules": list(SCHEDULES), "max_n": config.limits.max_n,
                "max_candidates": config.limits.max_candidates,
                "defaults": sampling.to_dict(),
                "size_defaults": {k: default_sampling(pipe, parse_size(k)[::-1]).to_dict() for k in pipe.size_sampling}}


def _add_generation_routes(app: FastAPI, pipe, scheduler: Scheduler, *, config: ServeConfig) -> None:
    """POST /v1/images/generations (answers when done) and its server-sent-events twin /stream."""

    async def read_spec(request: Request) -> JobSpec:
        raw = await _read_body(request)
        return to_spec(parse_body(raw, request.headers.get("content-type")), pipe, config.limits)

    def submit(spec: JobSpec, *, previews: bool) -> tuple[Job, asyncio.Queue]:
        loop, events = asyncio.get_running_loop(), asyncio.Queue()

        def sink(event: dict) -> None:  # called from the decoder thread
            try:
                loop.call_soon_threadsafe(events.put_nowait, event)
            except RuntimeError:  # the loop already closed at shutdown: nobody is listening
                pass

        job = Job(spec, sink=sink, timeout_s=config.timeout_s, previews=previews)
        scheduler.submit(job)
        return job, events

    @app.post("/v1/images/generations", openapi_extra=REQUEST_SCHEMA)
    async def generations(request: Request) -> Response:
        """Generate ``n`` images for ``prompt``; answers when they are done (OpenAI Images API shape)."""
        job, events = submit(await read_spec(request), previews=False)
        try:
            while True:
                try:
                    event = await asyncio.wait_for(events.get(), timeout=0.5)
                except TimeoutError:
                    if await request.is_disconnected():
                        job.cancel("disconnected")
                        return Response(status_code=499)
                    continue
                if event["type"] == "done":
                    return JSONResponse({"created": int(time.time()), "data": event["data"], "seed": event["seed"]})
                if event["type"] == "error":
                    return JSONResponse(APIError(event["status"], event["message"]).body(), status_code=event["status"])
        finally:
            if not job.finished:
                job.cancel("disconnected")

    @app.post("/v1/images/generations/stream", openapi_extra=REQUEST_SCHEMA)
    async def generations_stream(request: Request) -> StreamingResponse:
        """The same request answered as server-sent events: queued, started, progress (with preview PNGs
        every few window rows), then done (the final PNGs) or error."""
        job, events = submit(await read_spec(request), previews=True)

        async def stream():
            try:
                while True:
                    event = await events.get()
                    yield f"event: {event['type']}\ndata: {json.dumps(event)}\n\n"
                    if event["type"] in ("done", "error"):
                        return
            finally:
                if not job.finished:
                    job.cancel("disconnected")

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _sizes(pipe) -> list[str]:
    """The sizes the page offers ("WxH"): the usual squares the model serves, then the sizes of its own
    grids (``LMConfig.grid_windows``: 1024x512 on the shipped model)."""
    down = pipe.vq.downsample
    sizes = [f"{v}x{v}" for v in (256, 384, 512, 768, 1024, 2048)]
    sizes += [f"{w * down}x{h * down}" for h, w, _ in pipe.lm.config.grid_windows]
    return [size for size in dict.fromkeys(sizes) if _fits(pipe, size)]


def _fits(pipe, size: str) -> bool:
    try:
        check_size(pipe, size)
    except APIError:
        return False
    return True


async def _read_body(request: Request) -> bytes:
    """The body, refusing (413) one that is larger than ``MAX_BODY_BYTES`` before reading it all."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise APIError(413, f"request body is {declared} bytes; at most {MAX_BODY_BYTES} are accepted")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise APIError(413, f"request body exceeds {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
