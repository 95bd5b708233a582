from tokenshuffle.data import load_eval_prompts
from tokenshuffle.data.prompts import build_eval_prompts
from tokenshuffle.data.shapes import HARD_PAIRS


def test_shipped_prompt_files_match_the_builder():
    built = build_eval_prompts()
    for split in ("val", "hard"):
        assert load_eval_prompts(split) == built[split]


def test_splits_are_disjoint_and_hard_uses_only_held_out_pairs():
    val, hard = load_eval_prompts("val"), load_eval_prompts("hard")
    assert 150 <= len(val) <= 400 and len(hard) >= 30
    assert not {m["prompt"] for m in val} & {m["prompt"] for m in hard}
    assert len({m["prompt"] for m in val}) == len(val)
    pairs = set(HARD_PAIRS)
    for m in val:
        assert not {(g.get("color"), g["class"]) for g in m["include"]} & pairs
    for m in hard:
        assert {(g.get("color"), g["class"]) for g in m["include"]} & pairs
    assert {m["tag"] for m in val} == {"single_object", "two_object", "counting", "colors", "position", "color_attr"}
