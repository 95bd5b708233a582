"""Swapped-caption negatives for the contrastive caption loss (``TrainConfig.contrast_weight``).

A caption's negative is the same words with two of one group exchanged: "a red circle and a blue
star" -> "a blue circle and a red star", "a star above a circle" -> "a circle above a star". Both
captions hold the same bag of words, so only a model that reads which word goes with which can give
the image a higher likelihood under its own caption; ``train.step.lm_loss`` asks it to, by a margin.

A rule is a group of interchangeable words and, optionally, words one of which must be in the
caption for the swap to change its meaning ("a circle and a star" and "a star and a circle" say the
same, so shapes are swapped only around a relation word). The first rule that finds two different
words of its group in a caption makes its negative; the first two such words are exchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

from tokenshuffle.data.geneval import RELATIONS
from tokenshuffle.data.shapes import COLOR_NAMES, PLURALS, SHAPES
from tokenshuffle.errors import check_choice


@dataclass(frozen=True)
class SwapRule:
    name: str  # what the swap tests ("relation", "colours"): names its rows in `eval nll --captions swapped`
    words: tuple[str, ...]  # interchangeable words
    when: tuple[str, ...] = ()  # the swap applies only if one of these is in the caption ((): always)


# The synthetic scenes: a relation's two shapes, else two objects' colours.
RULES: dict[str, tuple[SwapRule, ...]] = {
    "scenes": (
        SwapRule(name="relation", words=SHAPES + tuple(PLURALS.values()),
                 when=tuple(r.split()[0] for r in RELATIONS)),
        SwapRule(name="colours", words=COLOR_NAMES),
    ),
}


class SwapNegatives:
    """Tokenised caption -> tokenised negative (or None when no rule applies), for one tokenizer."""

    def __init__(self, rules: tuple[SwapRule, ...], *, tokenizer) -> None:
        def ids(words) -> frozenset[int]:
            out = set()
            for w in words:
                tok = tokenizer.encode(w)
                if len(tok) == 1:  # a word the tokenizer does not hold as one token cannot be swapped
                    out.add(tok[0])
            return frozenset(out)

        self.names = tuple(r.name for r in rules)
        self.rules = [(ids(r.words), ids(r.when)) for r in rules]

    @classmethod
    def named(cls, name: str, *, tokenizer) -> SwapNegatives:
        check_choice("contrast", name, tuple(RULES))
        return cls(RULES[name], tokenizer=tokenizer)

    def __call__(self, ids: list[int]) -> list[int] | None:
        found = self.swap(ids)
        return None if found is None else found[1]

    def swap(self, ids: list[int]) -> tuple[str, list[int]] | None:
        """-> (the name of the rule that applied, the negative), or None."""
        present = set(ids)
        for name, (words, when) in zip(self.names, self.rules, strict=True):
            if when and not (when & present):
                continue
            first = next((i for i, t in enumerate(ids) if t in words), None)
            if first is None:
                continue
            second = next((i for i in range(first + 1, len(ids)) if ids[i] in words and ids[i] != ids[first]), None)
            if second is None:
                continue
            out = list(ids)
            out[first], out[second] = out[second], out[first]
            return name, out
        return None
