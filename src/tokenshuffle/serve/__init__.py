"""``tokenshuffle serve``: an HTTP API that batches concurrent requests and streams previews, and its page."""

from tokenshuffle.serve.app import ServeConfig, create_app
from tokenshuffle.serve.schemas import APIError, GenerationRequest, Limits

__all__ = ["APIError", "GenerationRequest", "Limits", "ServeConfig", "create_app"]
