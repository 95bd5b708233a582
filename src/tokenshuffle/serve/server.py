"""Running the app on uvicorn with a clean stop: SIGTERM or Ctrl-C drains the queue and exits 0.

On the first SIGTERM/SIGINT uvicorn stops accepting connections and waits (up to ``grace_s``) for
open ones; the waiting requests would hold theirs open, so they are answered 503 at once, and the
batch being decoded may finish. Requests still open after ``grace_s`` are cancelled between decoder
steps. uvicorn re-raises the signal it caught once it has stopped; a SIGTERM handler installed here
turns that into a normal return, so the process exits 0.
"""

from __future__ import annotations

import signal
import threading

import uvicorn

from tokenshuffle.serve.app import ServeConfig, create_app


class _DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, scheduler) -> None:
        super().__init__(config)
        self.scheduler = scheduler

    def handle_exit(self, sig, frame) -> None:
        # drain() takes the scheduler's lock, which the interrupted main thread may hold: use a thread.
        threading.Thread(target=self.scheduler.drain, name="tokenshuffle-drain", daemon=True).start()
        super().handle_exit(sig, frame)


def serve(pipe, *, host: str = "127.0.0.1", port: int = 8000, config: ServeConfig | None = None,
          model_name: str = "tokenshuffle", log_level: str = "info") -> int:
    """Serve ``pipe`` until SIGTERM/SIGINT; returns 0 after a clean stop."""
    config = config or ServeConfig()
    app = create_app(pipe, config, model_name=model_name)
    uv_config = uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="on",
                               timeout_graceful_shutdown=max(1, round(config.grace_s)))
    server = _DrainingServer(uv_config, app.state.scheduler)
    previous = signal.signal(signal.SIGTERM, lambda sig, frame: None)  # see the module docstring
    try:
        server.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0
