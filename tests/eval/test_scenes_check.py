from tokenshuffle.cli import main
from tokenshuffle.eval.scenes_check import check_evaluator


def test_evaluator_passes_clean_and_degraded_renders_and_rejects_shuffled():
    result = check_evaluator(num=24, sizes=(128,), seed=5)[128]
    assert result["clean"]["overall"] >= 0.99
    assert result["degraded"]["overall"] >= 0.9
    assert result["shuffled"]["overall"] < 0.5
    assert result["clean"]["num_images"] == 24


def test_bad_size_is_one_line(capsys):
    assert main(["eval", "scenes-check", "--num", "4", "--sizes", "32"]) == 2
    assert "size must be in [64, 2048]" in capsys.readouterr().err
