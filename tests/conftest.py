"""Tiny models shared by the tests: every one builds in milliseconds and runs on CPU."""

import pytest
import torch

import tokenshuffle as ts
from tokenshuffle.model.io import save_lm
from tokenshuffle.pipeline import TextToImagePipeline
from tokenshuffle.text import ByteTokenizer, save_text_tokenizer
from tokenshuffle.vq.autoencoder import VQTokenizer
from tokenshuffle.vq.config import VQConfig


def _tiny_lm(s: int = 2, *, seed: int = 0, **overrides) -> ts.TokenShuffleLM:
    """The ``tiny`` preset (2 layers, dim 64, 64 image codes) with window ``s``, weights from ``seed``."""
    torch.manual_seed(seed)
    return ts.TokenShuffleLM(ts.LMConfig.preset("tiny", shuffle_window=s, **overrides)).eval()


def _tiny_pipeline(s: int = 2, *, seed: int = 0, max_text_len: int = 120, **kwargs) -> TextToImagePipeline:
    """A 64x64 pipeline from random tiny weights; ``max_text_len`` fits the held-out prompts in bytes."""
    torch.manual_seed(seed)
    vq = VQTokenizer(VQConfig.preset("vq-16-tiny"))
    lm = _tiny_lm(s, seed=seed, image_vocab_size=vq.codebook_size, max_text_len=max_text_len)
    return TextToImagePipeline(vq=vq, lm=lm, **{"height": 64, "width": 64, **kwargs})


@pytest.fixture(scope="session")
def tiny_lm():
    """Factory: ``tiny_lm(s=2, seed=0, **LMConfig overrides)``."""
    return _tiny_lm


@pytest.fixture(scope="session")
def tiny_pipeline():
    """Factory: ``tiny_pipeline(s=2, seed=0, **TextToImagePipeline keywords)``, 64x64 by default."""
    return _tiny_pipeline


@pytest.fixture(scope="session")
def pipeline_dir(tmp_path_factory):
    """A saved tiny pipeline folder, shared read-only by the CLI tests."""
    path = tmp_path_factory.mktemp("pipelines") / "tiny"
    _tiny_pipeline().save_pretrained(path)
    return path


@pytest.fixture
def run_and_vq(tmp_path):
    """A finished-looking training run folder (lm/ + text_tokenizer.json) and a tokenizer folder."""
    pipe = _tiny_pipeline()
    pipe.vq.save_pretrained(tmp_path / "vq")
    save_lm(pipe.lm, tmp_path / "run" / "lm")
    save_text_tokenizer(ByteTokenizer(), tmp_path / "run" / "text_tokenizer.json")
    return tmp_path / "run", tmp_path / "vq"
