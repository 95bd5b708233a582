import pytest
import torch

import tokenshuffle as ts
from tokenshuffle.pipeline import TextToImagePipeline
from tokenshuffle.vq.autoencoder import VQTokenizer
from tokenshuffle.vq.config import VQConfig


def tiny_pipeline(s=2):
    torch.manual_seed(0)
    vq = VQTokenizer(VQConfig.preset("vq-16-tiny"))
    lm = ts.TokenShuffleLM(ts.LMConfig.preset("tiny", shuffle_window=s, image_vocab_size=vq.codebook_size))
    return TextToImagePipeline(vq=vq, lm=lm, height=64, width=64,
                               sampling=ts.SamplingConfig(guidance_scale=3.0))


def test_pipeline_generates_images_of_the_asked_size():
    pipe = tiny_pipeline()
    images = pipe(["a red circle", "a blue star"], height=64, width=128, num_images=2,
                  generator=torch.Generator().manual_seed(0))
    assert len(images) == 4 and all(im.size == (128, 64) and im.mode == "RGB" for im in images)


def test_save_and_load_round_trip_gives_the_same_images(tmp_path):
    pipe = tiny_pipeline()
    pipe.save_pretrained(tmp_path / "pipe")
    assert {p.name for p in (tmp_path / "pipe").iterdir()} >= {"vq", "lm", "text_tokenizer.json", "pipeline.json"}
    loaded = TextToImagePipeline.from_pretrained(tmp_path / "pipe")
    a = pipe("two hearts", generator=torch.Generator().manual_seed(3))
    b = loaded("two hearts", generator=torch.Generator().manual_seed(3))
    assert loaded.sampling.guidance_scale == 3.0
    assert [im.tobytes() for im in a] == [im.tobytes() for im in b]


@pytest.mark.parametrize("height,width,name", [(48, 64, "height=48"), (64, 40, "width=40"), (0, 64, "height=0")])
def test_bad_size_names_the_argument_and_the_multiple(height, width, name):
    with pytest.raises(ValueError, match=rf"{name} is not a size this model serves: a multiple of .* = 32"):
        tiny_pipeline()("x", height=height, width=width)


def test_top_k_none_turns_off_the_models_default_top_k():
    pipe = TextToImagePipeline(vq=tiny_pipeline().vq, lm=tiny_pipeline().lm, sampling=ts.SamplingConfig(top_k=100))
    assert pipe.resolve()[1].top_k == 100
    assert pipe.resolve(top_k=None)[1].top_k is None and pipe.resolve(top_k=7)[1].top_k == 7
