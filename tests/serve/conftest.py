import pytest

import tokenshuffle as ts

SAMPLING = ts.SamplingConfig(guidance_scale=3.0, temperature=1.0, top_k=50, candidates=2)


@pytest.fixture(scope="session")
def pipe(tiny_pipeline):
    """Random weights, 32-pixel steps (downsample 16, s=2): a 128x128 image is 16 decoder positions."""
    return tiny_pipeline(max_text_len=32, sampling=SAMPLING)
