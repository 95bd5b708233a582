import math

import pytest

import tokenshuffle as ts
from tokenshuffle.sampling.config import FIELDS, SamplingConfig


def test_one_default_per_setting_and_a_help_line_for_each():
    cfg = SamplingConfig()
    assert (cfg.guidance_scale, cfg.cfg_schedule, cfg.temperature, cfg.top_k, cfg.top_p, cfg.candidates) == (
        3.0, "half-linear", 1.0, None, None, 1)
    assert cfg.use_cfg and all(f.metadata["help"] for f in FIELDS)
    assert ts.SamplingConfig is SamplingConfig


@pytest.mark.parametrize("kwargs, name", [
    ({"guidance_scale": math.inf}, "guidance_scale"), ({"guidance_scale": math.nan}, "guidance_scale"),
    ({"guidance_scale": -1.0}, "guidance_scale"), ({"guidance_scale": "3"}, "guidance_scale"),
    ({"temperature": math.inf}, "temperature"), ({"temperature": -0.5}, "temperature"),
    ({"top_k": 2.5}, "top_k"), ({"top_k": 0}, "top_k"), ({"top_k": True}, "top_k"),
    ({"top_p": 0.0}, "top_p"), ({"top_p": 1.5}, "top_p"), ({"top_p": math.nan}, "top_p"),
    ({"candidates": 1.5}, "candidates"), ({"candidates": 0}, "candidates"),
    ({"cfg_schedule": "cubic"}, "cfg_schedule"),
])
def test_every_bad_value_names_its_setting(kwargs, name):
    with pytest.raises(ValueError, match=name):
        SamplingConfig(**kwargs)


def test_replace_and_from_dict_check_names_and_types():
    cfg = SamplingConfig().replace(top_k=50, candidates=4)
    assert cfg.top_k == 50 and cfg.candidates == 4
    assert SamplingConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown sampling fields \\['steps'\\]"):
        SamplingConfig().replace(steps=3)
    with pytest.raises(ValueError, match="must be a JSON object"):
        SamplingConfig.from_dict([1, 2])
    with pytest.raises(ValueError, match="'top_k' must be an integer or null, got '50'"):
        SamplingConfig.from_dict({"top_k": "50"})
