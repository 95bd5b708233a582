"""Servers for the tests: the app in process (``make_app``) or a real ``tokenshuffle serve`` process on a
free 127.0.0.1 port (``start_server``)."""

from tokenshuffle.serve import Limits, ServeConfig, create_app


def make_app(pipe, **overrides):
    limits = Limits(max_n=overrides.pop("max_n", 4), max_candidates=8,
                    max_batch_rows=overrides.pop("max_batch_rows", 64))
    return create_app(pipe, ServeConfig(limits=limits, gather_s=0.01, preview_rows=1, **overrides))


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model_dir, *args, timeout_s: float = 90.0):
    """``tokenshuffle serve`` in a subprocess on a free 127.0.0.1 port -> (Popen, base URL) once /health answers."""
    import subprocess
    import sys
    import time

    import httpx

    port = free_port()
    cmd = [sys.executable, "-m", "tokenshuffle.cli", "serve", "--model", str(model_dir), "--port", str(port), *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {proc.stderr.read()}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"server did not answer /health within {timeout_s} s")
