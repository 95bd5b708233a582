"""Text tokenizers: UTF-8 bytes by default, a word vocabulary built from captions, or any Hugging Face
``tokenizer.json``.

Both expose ``encode(str) -> list[int]``, ``decode(ids) -> str``, ``vocab_size`` and save to / load from
one JSON file (the pipeline folder's ``text_tokenizer.json``).
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from pathlib import Path

_WORD = re.compile(r"[a-z0-9]+|[^\sa-z0-9]")
UNKNOWN = "<unk>"


class ByteTokenizer:
    """Each UTF-8 byte is one token (vocab 256): no files to ship, any language, no unknown tokens."""

    vocab_size = 256

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids) -> str:
        return bytes(int(i) for i in ids if 0 <= int(i) < 256).decode("utf-8", errors="replace")

    def to_dict(self) -> dict:
        return {"type": "bytes"}


class WordTokenizer:
    """One token per lower-cased word, number or punctuation mark; id 0 is ``<unk>`` for anything else.

    For small closed-vocabulary caption sets (the synthetic scenes): "a red circle" is 3 tokens instead
    of 12 bytes, so a small model need not learn to spell before it can bind a colour to a shape."""

    def __init__(self, words) -> None:
        words = [str(w) for w in words]
        if not words or words[0] != UNKNOWN:
            raise ValueError(f"words must start with {UNKNOWN!r}")
        if len(set(words)) != len(words):
            raise ValueError("words must not repeat")
        self.words = words
        self.ids = {w: i for i, w in enumerate(words)}
        self.vocab_size = len(words)

    @staticmethod
    def split(text: str) -> list[str]:
        return _WORD.findall(text.lower())

    @classmethod
    def from_texts(cls, texts, *, min_count: int = 1) -> WordTokenizer:
        """The words that occur at least ``min_count`` times in ``texts``, most frequent first."""
        from tokenshuffle.errors import check_range

        check_range("min_count", min_count, low=1)
        counts = Counter(w for t in texts for w in cls.split(t))
        kept = sorted((w for w, c in counts.items() if c >= min_count and w != UNKNOWN), key=lambda w: (-counts[w], w))
        if not kept:
            raise ValueError(f"no word occurs at least min_count={min_count} times in the captions")
        return cls([UNKNOWN, *kept])

    def encode(self, text: str) -> list[int]:
        return [self.ids.get(w, 0) for w in self.split(text)]

    def decode(self, ids) -> str:
        return " ".join(self.words[int(i)] for i in ids if 0 <= int(i) < self.vocab_size)

    def to_dict(self) -> dict:
        return {"type": "words", "words": self.words}


class HFTokenizer:
    """A Hugging Face ``tokenizer.json`` (e.g. Llama 3's byte-level BPE), through the ``tokenizers`` package.

    Captions are encoded without the tokenizer's own specials (Llama 3's ``<|begin_of_text|>``): the
    sequence layout adds its own BOS. ``vocab_size`` counts added tokens, as the checkpoint's embedding does.
    """

    def __init__(self, data: dict) -> None:
        from tokenizers import Tokenizer  # imported here: `import tokenshuffle` stays light

        self.data = data
        try:
            self.tokenizer = Tokenizer.from_str(json.dumps(data))
        except Exception as exc:  # tokenizers raises its own Exception type for a malformed file
            raise ValueError(f"not a usable tokenizer.json ({str(exc).splitlines()[0][:200]})") from None
        self.vocab_size = self.tokenizer.get_vocab_size(with_added_tokens=True)

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def decode(self, ids) -> str:
        return self.tokenizer.decode([int(i) for i in ids])

    def to_dict(self) -> dict:
        return self.data


def load_text_tokenizer(path: str | os.PathLike) -> ByteTokenizer | WordTokenizer | HFTokenizer:
    """Our ``text_tokenizer.json`` (bytes or words) or any Hugging Face ``tokenizer.json``."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"text tokenizer {path}: cannot read it as JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"text tokenizer {path}: not a tokenizer file (a JSON object)")
    if data.get("type") == "bytes":
        return ByteTokenizer()
    if data.get("type") == "words":
        return WordTokenizer(data["words"])
    return HFTokenizer(data)


def save_text_tokenizer(tokenizer, path: str | os.PathLike) -> None:
    from tokenshuffle.serialization import atomic_write

    atomic_write(path, lambda p: Path(p).write_text(json.dumps(tokenizer.to_dict())))
