import pytest

from tokenshuffle.schedules import warmup_cosine_lr


def test_warms_up_linearly_then_decays_by_cosine_to_the_floor_and_holds():
    kw = dict(peak=1.0, warmup_steps=10, num_steps=110, min_lr_ratio=0.1)
    assert warmup_cosine_lr(0, **kw) == pytest.approx(0.1)
    assert warmup_cosine_lr(9, **kw) == pytest.approx(1.0)
    assert warmup_cosine_lr(10, **kw) == pytest.approx(1.0)
    assert warmup_cosine_lr(60, **kw) == pytest.approx(0.55)
    assert warmup_cosine_lr(110, **kw) == warmup_cosine_lr(500, **kw) == pytest.approx(0.1)
    assert all(warmup_cosine_lr(s, **kw) >= warmup_cosine_lr(s + 1, **kw) for s in range(10, 120))
    assert warmup_cosine_lr(60, **{**kw, "peak": 3.0}) == pytest.approx(1.65)


def test_no_warmup_starts_at_the_peak():
    assert warmup_cosine_lr(0, peak=0.5, warmup_steps=0, num_steps=4, min_lr_ratio=0.0) == 0.5
    assert warmup_cosine_lr(4, peak=0.5, warmup_steps=0, num_steps=4, min_lr_ratio=0.0) == pytest.approx(0.0)
