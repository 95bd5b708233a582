import pytest
import torch

import tokenshuffle as ts
from tokenshuffle.pipeline import TextToImagePipeline
from tokenshuffle.serve import Limits, ServeConfig, create_app
from tokenshuffle.vq.autoencoder import VQTokenizer
from tokenshuffle.vq.config import VQConfig

DEFAULTS = {"height": 64, "width": 64, "guidance_scale": 3.0, "temperature": 1.0, "top_k": 50, "candidates": 2}


def tiny_pipeline() -> TextToImagePipeline:
    """Random weights, 32-pixel steps (downsample 16, s=2): a 128x128 image is 16 decoder positions."""
    torch.manual_seed(0)
    vq = VQTokenizer(VQConfig.preset("vq-16-tiny"))
    lm = ts.TokenShuffleLM(ts.LMConfig.preset("tiny", shuffle_window=2, image_vocab_size=vq.codebook_size))
    return TextToImagePipeline(vq=vq, lm=lm, defaults=DEFAULTS)


@pytest.fixture(scope="session")
def pipe():
    return tiny_pipeline()


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
