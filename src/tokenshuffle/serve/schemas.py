"""The request body of ``POST /v1/images/generations`` and its checks, before anything is queued.

The shape is the OpenAI Images API's (``prompt``, ``n``, ``size`` as ``"WxH"``, ``response_format``
``b64_json``; ``model`` is accepted and ignored so OpenAI clients work unchanged) plus this project's
sampling fields. Every mistake becomes an ``APIError`` (a 4xx with ``{"error": {"message", "param"}}``)
naming the field; nothing reaches the decoder unchecked.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tokenshuffle.pipeline import parse_size
from tokenshuffle.sampling import SCHEDULES, SamplingConfig

MAX_PROMPT_CHARS = 1000
MAX_BODY_BYTES = 2 * 1024 * 1024  # a 1 MB prompt still reaches the field check and gets a 400 naming it
class APIError(Exception):
    """A client mistake: HTTP ``status`` and the OpenAI-style error body."""

    def __init__(self, status: int, message: str, *, param: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.headers = status, message, param, headers or {}

    def body(self) -> dict:
        kind = "invalid_request_error" if self.status < 500 else "server_error"
        return {"error": {"message": self.message, "param": self.param, "type": kind}}


class GenerationRequest(BaseModel):
    """One generation request; ``None`` means the model's default (its pipeline.json)."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)

    prompt: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    n: int = Field(1, ge=1, description="images for this prompt (the server's --max-n caps it)")
    size: str | None = Field(None, description='"WxH" in pixels, e.g. "512x512" (default: the model\'s)')
    response_format: Literal["b64_json"] = "b64_json"
    model: str | None = Field(None, max_length=200, description="accepted for OpenAI clients; ignored")
    seed: int | None = Field(None, ge=0, le=2**63 - 1, description="same seed, same images (default: random)")
    guidance_scale: float | None = Field(None, ge=0, le=100, description="CFG target scale; 1 = off")
    cfg_schedule: str | None = Field(None, description=f"one of {', '.join(SCHEDULES)}")
    temperature: float | None = Field(None, ge=0, le=10, description="0 = greedy")
    top_k: int | None = Field(None, ge=0, le=1_000_000, description="0 = off")
    top_p: float | None = Field(None, gt=0, le=1)
    candidates: int | None = Field(None, ge=1, description="grids drawn per image, the likeliest kept")

    @field_validator("prompt")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("prompt must contain a non-space character")
        return v

    @field_validator("cfg_schedule")
    @classmethod
    def _known_schedule(cls, v: str | None) -> str | None:
        if v is not None and v not in SCHEDULES:
            raise ValueError(f"cfg_schedule must be one of {', '.join(SCHEDULES)}; got {v!r}")
        return v


@dataclass(frozen=True)
class Limits:
    """What one server accepts; the CLI flags of ``tokenshuffle serve``."""

    max_n: int = 4
    max_candidates: int = 8
    max_batch_rows: int = 64  # images x candidates decoded together (the CFG batch is twice this)

    def __post_init__(self) -> None:
        for name in ("max_n", "max_candidates", "max_batch_rows"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


@dataclass(frozen=True)
class JobSpec:
    """A checked request: what the scheduler needs to decode it."""

    prompt: str
    num_images: int
    size: tuple[int, int]  # (width, height) pixels
    grid: tuple[int, int]  # (h, w) codes
    sampling: SamplingConfig
    seed: int | None

    @property
    def rows(self) -> int:
        return self.num_images * self.sampling.candidates


def parse_body(raw: bytes, content_type: str | None) -> GenerationRequest:
    """Bytes of a POST body -> a ``GenerationRequest``, or an ``APIError`` naming what is wrong."""
    if (content_type or "").split(";")[0].strip().lower() != "application/json":
        raise APIError(415, f"Content-Type must be application/json, got {content_type or 'none'!r}")
    if len(raw) > MAX_BODY_BYTES:
        raise APIError(413, f"request body is {len(raw)} bytes; at most {MAX_BODY_BYTES} are accepted")
    try:
        # NaN and Infinity literals parse to floats here so the field check rejects them by name.
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise APIError(400, f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise APIError(400, f"body must be a JSON object, got {type(data).__name__}")
    try:
        return GenerationRequest.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc) from None


def validation_error(exc: ValidationError) -> APIError:
    """The first pydantic error -> an APIError naming its field."""
    err = exc.errors()[0]
    param = ".".join(str(p) for p in err["loc"]) or None
    if err["type"] == "extra_forbidden":
        return APIError(400, f"unknown field {param!r}", param=param)
    message = err["msg"].removeprefix("Value error, ")
    return APIError(400, f"{param}: {message}" if param else message, param=param)


def default_sampling(pipe, size: tuple[int, int] | None = None) -> SamplingConfig:
    """The model's own SamplingConfig (its pipeline.json) at ``size`` (W, H pixels; None: its default size)."""
    width, height = size or default_size(pipe)
    return pipe.sampling_for(height, width)


def default_size(pipe) -> tuple[int, int]:
    """The model's default (width, height) in pixels."""
    return pipe.width, pipe.height


def check_size(pipe, size: str | None) -> tuple[tuple[int, int], tuple[int, int]]:
    """``"WxH"`` -> ((W, H) pixels, (h, w) code grid) the model can decode, or a 400 naming ``size``."""
    width, height = default_size(pipe) if size is None else _parse_size(size)
    step = pipe.vq.downsample * pipe.lm.s
    cfg = pipe.lm.config
    largest = min(cfg.max_grid_size * pipe.vq.downsample, 8192)
    hint = f"W and H multiples of {step} between {step} and {largest}, within {cfg.max_seq_len} sequence positions"
    try:
        grid = pipe.grid_for(height, width)
    except ValueError as exc:
        raise APIError(400, f"size {width}x{height} cannot be served ({exc}); use {hint}", param="size") from None
    return (width, height), grid


def _parse_size(size: str) -> tuple[int, int]:
    """"WxH" -> (W, H), or a 400 naming ``size``."""
    try:
        height, width = parse_size(size)
    except ValueError:
        raise APIError(400, f'size must look like "512x512" (width x height in pixels), got {size[:40]!r}',
                       param="size") from None
    return width, height


def to_spec(req: GenerationRequest, pipe, limits: Limits) -> JobSpec:
    """Resolve a request against the model's defaults and the server's limits -> a JobSpec."""
    if req.n > limits.max_n:
        raise APIError(400, f"n must be between 1 and {limits.max_n}, got {req.n}", param="n")
    if req.candidates is not None and req.candidates > limits.max_candidates:
        raise APIError(400, f"candidates must be between 1 and {limits.max_candidates}, got {req.candidates}",
                       param="candidates")
    size, grid = check_size(pipe, req.size)
    base = default_sampling(pipe, size)
    overrides = {k: getattr(req, k) for k in ("guidance_scale", "cfg_schedule", "temperature", "top_p", "candidates")
                 if getattr(req, k) is not None}
    if req.top_k is not None:
        overrides["top_k"] = req.top_k or None  # 0 turns the model's top-k off, as on the command line
    try:
        sampling = dataclasses.replace(base, **overrides)
    except ValueError as exc:
        param = next((k for k in overrides if k in str(exc)), None)
        raise APIError(400, str(exc), param=param) from None
    spec = JobSpec(prompt=req.prompt, num_images=req.n, size=size, grid=grid, sampling=sampling, seed=req.seed)
    if spec.rows > limits.max_batch_rows:
        raise APIError(400, f"n x candidates = {spec.rows} exceeds this server's batch of {limits.max_batch_rows} "
                            "rows; ask for fewer images or candidates", param="n")
    return spec
