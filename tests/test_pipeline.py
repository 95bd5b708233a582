import pytest
import torch

import tokenshuffle as ts
from tokenshuffle.pipeline import TextToImagePipeline


def test_pipeline_generates_images_of_the_asked_size(tiny_pipeline):
    pipe = tiny_pipeline()
    images = pipe(["a red circle", "a blue star"], height=64, width=128, num_images=2,
                  generator=torch.Generator().manual_seed(0))
    assert len(images) == 4 and all(im.size == (128, 64) and im.mode == "RGB" for im in images)


def test_save_and_load_round_trip_gives_the_same_images(tiny_pipeline, tmp_path):
    pipe = tiny_pipeline()
    pipe.save_pretrained(tmp_path / "pipe")
    assert {p.name for p in (tmp_path / "pipe").iterdir()} >= {"vq", "lm", "text_tokenizer.json", "pipeline.json"}
    loaded = TextToImagePipeline.from_pretrained(tmp_path / "pipe")
    a = pipe("two hearts", generator=torch.Generator().manual_seed(3))
    b = loaded("two hearts", generator=torch.Generator().manual_seed(3))
    assert loaded.sampling.guidance_scale == 3.0
    assert [im.tobytes() for im in a] == [im.tobytes() for im in b]


@pytest.mark.parametrize("height,width,name", [(48, 64, "height=48"), (64, 40, "width=40"), (0, 64, "height=0")])
def test_bad_size_names_the_argument_and_the_multiple(tiny_pipeline, height, width, name):
    with pytest.raises(ValueError, match=rf"{name} is not a size this model serves: a multiple of .* = 32"):
        tiny_pipeline()("x", height=height, width=width)


def test_a_grid_with_its_own_windows_is_served_and_named_in_the_size_error(tiny_pipeline):
    pipe = tiny_pipeline()
    torch.manual_seed(0)
    cfg = ts.LMConfig.preset("tiny", shuffle_window=2, image_vocab_size=pipe.lm.config.image_vocab_size,
                             max_text_len=120, grid_windows=((8, 16, 4),))
    pipe.lm = ts.TokenShuffleLM(cfg).eval()
    assert pipe.grid_for(128, 256) == (8, 16)
    images = pipe("a star", height=128, width=256, num_images=1, generator=torch.Generator().manual_seed(0))
    assert images[0].size == (256, 128)
    with pytest.raises(ValueError, match=r"height=100 is not a size .* from 32 to 512, or 256x128 \(WxH\)"):
        pipe("a star", height=100, width=256)


def test_top_k_none_turns_off_the_models_default_top_k(tiny_pipeline):
    pipe = TextToImagePipeline(vq=tiny_pipeline().vq, lm=tiny_pipeline().lm, sampling=ts.SamplingConfig(top_k=100))
    assert pipe.resolve()[1].top_k == 100
    assert pipe.resolve(top_k=None)[1].top_k is None and pipe.resolve(top_k=7)[1].top_k == 7


def test_sampling_named_for_a_size_is_used_there_and_kept_on_save(tiny_pipeline, tmp_path):
    pipe = tiny_pipeline(sampling=ts.SamplingConfig(temperature=0.7, top_k=50),
                         size_sampling={"128x64": {"temperature": 0.0, "top_k": None}})
    assert pipe.resolve()[1] == ts.SamplingConfig(temperature=0.7, top_k=50)  # the default size: its own
    assert pipe.resolve(height=64, width=128)[1] == ts.SamplingConfig(temperature=0.0, top_k=None)
    assert pipe.resolve(height=128, width=64)[1].temperature == 0.7  # 64x128 is another size
    assert pipe.resolve(height=64, width=128, temperature=1.0)[1].temperature == 1.0  # the caller's wins
    given = ts.SamplingConfig(temperature=0.5)
    assert pipe.resolve(height=64, width=128, sampling=given)[1] == given  # a whole config is taken as given
    pipe.save_pretrained(tmp_path / "p")
    loaded = TextToImagePipeline.from_pretrained(tmp_path / "p")
    assert loaded.size_sampling == {"128x64": {"temperature": 0.0, "top_k": None}}
    a = loaded("a star", height=64, width=128, generator=torch.Generator().manual_seed(0))
    b = loaded("a star", height=64, width=128, sampling=ts.SamplingConfig(temperature=0.0),
               generator=torch.Generator().manual_seed(1))  # greedy: the seed does not matter
    assert a[0].tobytes() == b[0].tobytes()


@pytest.mark.parametrize("prompt", [[], [None], b"a red circle", None, 3, ["ok", 5]])
def test_bad_prompts_name_the_argument(tiny_pipeline, prompt):
    with pytest.raises(ValueError, match="prompt must be a str or a non-empty list of str"):
        tiny_pipeline()(prompt)


@pytest.mark.parametrize("kwargs, needle", [
    ({"height": "64"}, "height='64' is not a size"), ({"width": 64.0}, "width=64.0 is not a size"),
    ({"num_images": 0}, "num_images"), ({"num_images": 1.5}, "num_images"),
    ({"sampling": {"top_k": 5}}, "sampling must be a SamplingConfig"), ({"steps": 3}, "unknown sampling fields"),
    ({"top_k": 2.5}, "top_k"), ({"guidance_scale": float("inf")}, "guidance_scale"),
])
def test_bad_call_arguments_name_the_argument(tiny_pipeline, kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        tiny_pipeline()("a red circle", **kwargs)


@pytest.mark.parametrize("text, needle", [
    ('{"height": "512"}', "height must be a positive integer"),
    ("[1, 2]", "expected a JSON object"),
    ('{"height": 64, "sampling": {"top_k": "50"}}', "'top_k' must be an integer or null"),
    ('{"sampling": [3]}', "sampling must be a JSON object"),
    ('{"hieght": 64}', "unknown keys \\['hieght'\\]"),
    ('{"height": 64,', "not valid JSON"),
    ('{"height": 48}', "height=48 is not a size this model serves"),
    ('{"sizes": [1]}', "sizes must be a JSON object"),
    ('{"sizes": {"64": {}}}', 'sizes: a size must look like "1024x512"'),
    ('{"sizes": {"64x48": {}}}', "sizes: 64x48: height=48 is not a size this model serves"),
    ('{"sizes": {"64x64": {"temp": 1}}}', "sizes: 64x64: unknown sampling fields"),
    ('{"sizes": {"64x64": {"top_k": 0.5}}}', "sizes: 64x64: sampling field 'top_k' must be an integer"),
    ('{"sizes": {"64x64": 3}}', "sizes: 64x64: must be a JSON object"),
])
def test_a_malformed_pipeline_json_is_refused_at_load_naming_the_file(tiny_pipeline, tmp_path, text, needle):
    tiny_pipeline().save_pretrained(tmp_path / "p")
    (tmp_path / "p" / "pipeline.json").write_text(text)
    with pytest.raises(ValueError, match=needle) as err:
        TextToImagePipeline.from_pretrained(tmp_path / "p")
    assert "pipeline.json" in str(err.value) or "48" in text


def test_a_wrong_type_in_a_component_config_is_refused_naming_the_field(tiny_pipeline, tmp_path):
    import json

    tiny_pipeline().save_pretrained(tmp_path / "p")
    cfg = tmp_path / "p" / "vq" / "config.json"
    cfg.write_text(json.dumps({**json.loads(cfg.read_text()), "codebook_size": "1024"}))
    with pytest.raises(ValueError, match="'codebook_size' must be an integer"):
        TextToImagePipeline.from_pretrained(tmp_path / "p")
