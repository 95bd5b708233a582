"""Text tokenizers: UTF-8 bytes by default, or any Hugging Face ``tokenizer.json``.

Both expose ``encode(str) -> list[int]``, ``decode(ids) -> str``, ``vocab_size`` and save to / load from
one JSON file (the pipeline folder's ``text_tokenizer.json``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path


class ByteTokenizer:
    """Each UTF-8 byte is one token (vocab 256): no files to ship, any language, no unknown tokens."""

    vocab_size = 256

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids) -> str:
        return bytes(int(i) for i in ids if 0 <= int(i) < 256).decode("utf-8", errors="replace")

    def to_dict(self) -> dict:
        return {"type": "bytes"}


class HFTokenizer:
    """A ``tokenizers`` tokenizer.json (e.g. a Llama tokenizer); needs the ``tokenizers`` package."""

    def __init__(self, data: dict) -> None:
        try:
            from tokenizers import Tokenizer
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ValueError("a tokenizer.json text tokenizer needs `pip install tokenizers`") from exc
        self.data = data
        self.tokenizer = Tokenizer.from_str(json.dumps(data))
        self.vocab_size = self.tokenizer.get_vocab_size()

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def decode(self, ids) -> str:
        return self.tokenizer.decode([int(i) for i in ids])

    def to_dict(self) -> dict:
        return self.data


def load_text_tokenizer(path: str | os.PathLike) -> ByteTokenizer | HFTokenizer:
    data = json.loads(Path(path).read_text())
    return ByteTokenizer() if data.get("type") == "bytes" else HFTokenizer(data)


def save_text_tokenizer(tokenizer, path: str | os.PathLike) -> None:
    from tokenshuffle.serialization import atomic_write

    atomic_write(path, lambda p: Path(p).write_text(json.dumps(tokenizer.to_dict())))
