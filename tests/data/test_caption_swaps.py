import pytest

from tokenshuffle.data.caption_swaps import SwapNegatives, SwapRule
from tokenshuffle.text import WordTokenizer

CAPTIONS = ["a photo of a red circle and a blue star", "a photo of a star left of a circle",
            "a red triangle above a blue hexagon", "a photo of a circle and a star", "a photo of three hearts",
            "a red circle and a red star", "a photo of a heart below a heart"]
TOK = WordTokenizer.from_texts(CAPTIONS)


def negative(rules, caption):
    out = rules(TOK.encode(caption))
    return None if out is None else TOK.decode(out)


def test_scenes_rules_swap_a_relations_shapes_else_two_colours():
    rules = SwapNegatives.named("scenes", tokenizer=TOK)
    assert negative(rules, "a photo of a red circle and a blue star") == "a photo of a blue circle and a red star"
    assert negative(rules, "a photo of a star left of a circle") == "a photo of a circle left of a star"
    # a relation with colours: the shapes swap (the colours stay in place), not the colours
    assert negative(rules, "a red triangle above a blue hexagon") == "a red hexagon above a blue triangle"


@pytest.mark.parametrize("caption", ["a photo of a circle and a star", "a photo of three hearts",
                                     "a red circle and a red star", "a photo of a heart below a heart", ""])
def test_no_negative_where_a_swap_would_not_change_the_meaning(caption):
    assert negative(SwapNegatives.named("scenes", tokenizer=TOK), caption) is None


def test_a_rule_waits_for_its_condition_and_rules_apply_in_order():
    shapes_any = SwapNegatives((SwapRule(name="shapes", words=("circle", "star")),), tokenizer=TOK)
    assert negative(shapes_any, "a photo of a circle and a star") == "a photo of a star and a circle"
    near_left = SwapRule(name="shapes", words=("circle", "star"), when=("left",))
    shapes_near_left = SwapNegatives((near_left,), tokenizer=TOK)
    assert negative(shapes_near_left, "a photo of a circle and a star") is None
    colours, shapes = SwapRule(name="c", words=("red", "blue")), SwapRule(name="s", words=("triangle", "hexagon"))
    colours_first = SwapNegatives((colours, shapes), tokenizer=TOK)
    assert negative(colours_first, "a red triangle above a blue hexagon") == "a blue triangle above a red hexagon"
    assert colours_first.swap(TOK.encode("a red triangle above a blue hexagon"))[0] == "c"
    assert SwapNegatives.named("scenes", tokenizer=TOK).names == ("relation", "colours")


def test_unknown_rule_set_names_the_argument():
    with pytest.raises(ValueError, match="contrast must be one of scenes"):
        SwapNegatives.named("colours", tokenizer=TOK)
