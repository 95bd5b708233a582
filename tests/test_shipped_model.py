"""The shipped demo model: what `make demo` and `tokenshuffle generate` without --model rely on."""

import json

import pytest
import torch
from safetensors import safe_open

from tokenshuffle.cli.generate import DEFAULT_MODEL
from tokenshuffle.pipeline import TextToImagePipeline

SIZE_LIMIT = 50 * 1024 * 1024


def test_the_shipped_model_is_a_complete_pipeline_folder_under_the_size_limit():
    names = {p.name for p in DEFAULT_MODEL.iterdir()}
    assert names >= {"vq", "lm", "text_tokenizer.json", "pipeline.json", "README.md"}
    total = sum(p.stat().st_size for p in DEFAULT_MODEL.rglob("*") if p.is_file())
    assert total <= SIZE_LIMIT, f"{total / 2**20:.1f} MiB"


@pytest.mark.parametrize("part", ["vq", "lm"])
def test_the_shipped_weights_are_half_precision(part):
    with safe_open(str(DEFAULT_MODEL / part / "model.safetensors"), framework="pt") as f:
        dtypes = {f.get_slice(k).get_dtype() for k in f.keys()}
    assert dtypes <= {"F16", "BF16"}, dtypes


def test_the_shipped_model_is_512_pixels_with_window_2():
    settings = json.loads((DEFAULT_MODEL / "pipeline.json").read_text())
    lm = json.loads((DEFAULT_MODEL / "lm" / "config.json").read_text())
    assert lm["shuffle_window"] == 2
    assert settings["height"] >= 512 and settings["width"] >= 512


def test_the_shipped_model_generates_deterministic_images_of_its_size():
    pipe = TextToImagePipeline.from_pretrained(DEFAULT_MODEL)
    assert pipe.grid_for(512, 512) == (32, 32)
    assert pipe.grid_for(1024, 1024) == (64, 64)  # 1024², 4x4 windows, through its own decoder
    assert pipe.lm.at((64, 64)).decoder is not pipe.lm.decoder and pipe.lm.at((64, 64)).s == 4
    for grid in ((32, 64), (64, 32)):  # 1024x512 and 512x1024 (WxH): 4x4 windows, the 1024² decoder
        assert pipe.grid_for(grid[0] * 16, grid[1] * 16) == grid
        assert pipe.lm.at(grid).decoder is pipe.lm.at((64, 64)).decoder and pipe.lm.at(grid).s == 4
    a = pipe("a photo of a red circle", num_images=1, generator=torch.Generator().manual_seed(1))
    b = pipe("a photo of a red circle", num_images=1, generator=torch.Generator().manual_seed(1))
    assert a[0].size == (512, 512)
    assert a[0].tobytes() == b[0].tobytes()


def test_the_emoji_model_is_a_complete_pipeline_under_its_limit_and_reads_names():
    from tokenshuffle.cli.generate import SHIPPED_MODELS

    folder = SHIPPED_MODELS["emoji"]
    assert {p.name for p in folder.iterdir()} >= {"vq", "lm", "text_tokenizer.json", "pipeline.json", "README.md"}
    total = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert total <= 25 * 1000 * 1000, f"{total / 2**20:.1f} MiB"
    for part in ("vq", "lm"):
        with safe_open(str(folder / part / "model.safetensors"), framework="pt") as f:
            assert {f.get_slice(k).get_dtype() for k in f.keys()} <= {"F16", "BF16"}
    pipe = TextToImagePipeline.from_pretrained(folder)
    assert 0 not in pipe.text_tokenizer.encode("woman lifting weights")  # every word known (0 is <unk>)
    images = pipe(["keycap 9", "woman lifting weights"], num_images=2, generator=torch.Generator().manual_seed(0))
    assert [im.size for im in images] == [(64, 64)] * 4
    assert images[0].tobytes() != images[2].tobytes()  # the name changes the drawing
