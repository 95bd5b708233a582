import json

import numpy as np
import pytest

from tokenshuffle.cli import main
from tokenshuffle.data.codes import FORMAT, INDEX_NAME
from tokenshuffle.text import ByteTokenizer, WordTokenizer, load_text_tokenizer, save_text_tokenizer

CAPTIONS = ["a photo of a red circle", "A photo of two circles.", "a blue star and a red circle"]


def test_byte_tokenizer_round_trip():
    tok = ByteTokenizer()
    assert tok.decode(tok.encode("a red circle, é")) == "a red circle, é"


def test_word_tokenizer_orders_by_frequency_and_splits_punctuation():
    tok = WordTokenizer.from_texts(CAPTIONS)
    assert tok.words[:4] == ["<unk>", "a", "circle", "of"]  # a: 5, circle: 2 (circles is another word), of: 2
    ids = tok.encode("A RED circle.")
    assert ids == [tok.ids["a"], tok.ids["red"], tok.ids["circle"], tok.ids["."]]
    assert tok.decode(ids) == "a red circle ."
    assert tok.encode("a green circle") == [tok.ids["a"], 0, tok.ids["circle"]]  # unseen word -> <unk>
    assert max(tok.encode(" ".join(CAPTIONS))) == tok.vocab_size - 1


def test_word_tokenizer_min_count_and_bad_input():
    assert WordTokenizer.from_texts(CAPTIONS, min_count=2).words == ["<unk>", "a", "circle", "of", "photo", "red"]
    with pytest.raises(ValueError, match="min_count"):
        WordTokenizer.from_texts(CAPTIONS, min_count=0)
    with pytest.raises(ValueError, match="min_count=9"):
        WordTokenizer.from_texts(CAPTIONS, min_count=9)
    with pytest.raises(ValueError, match="start with '<unk>'"):
        WordTokenizer(["a", "b"])
    with pytest.raises(ValueError, match="repeat"):
        WordTokenizer(["<unk>", "a", "a"])


def test_save_and_load_round_trip(tmp_path):
    for tok in (ByteTokenizer(), WordTokenizer.from_texts(CAPTIONS)):
        save_text_tokenizer(tok, tmp_path / "t.json")
        loaded = load_text_tokenizer(tmp_path / "t.json")
        assert type(loaded) is type(tok) and loaded.vocab_size == tok.vocab_size
        assert loaded.encode(CAPTIONS[2]) == tok.encode(CAPTIONS[2])


def test_cli_data_words_reads_folders_and_shards(tmp_path, capsys):
    folder, shards = tmp_path / "images", tmp_path / "codes"
    folder.mkdir(), shards.mkdir()
    (folder / "captions.jsonl").write_text(json.dumps({"file": "a.png", "caption": CAPTIONS[0]}) + "\n")
    (shards / "captions-00000.jsonl").write_text(
        json.dumps({"file": "b.png", "caption": CAPTIONS[1], "captions": CAPTIONS[1:]}) + "\n"
    )
    np.save(shards / "codes-00000.npy", np.zeros((1, 2, 2), dtype=np.int16))
    shard = {"shard": 0, "codes": "codes-00000.npy", "captions": "captions-00000.jsonl", "num": 1}
    index = {"format": FORMAT, "complete": True, "shards": [shard], "grid": [2, 2], "vq": {"codebook_size": 16}}
    (shards / INDEX_NAME).write_text(json.dumps(index))
    out = tmp_path / "words.json"
    assert main(["data", "words", "--data", str(folder), "--data", str(shards), "--out", str(out)]) == 0
    tok = load_text_tokenizer(out)
    assert isinstance(tok, WordTokenizer) and set(tok.words) == set(WordTokenizer.from_texts(CAPTIONS).words)
    assert "wrote" in capsys.readouterr().out
    assert main(["data", "words", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "w2.json")]) == 2
    err = capsys.readouterr().err
    assert "--data" in err and len(err.strip().splitlines()) == 1 and not (tmp_path / "w2.json").exists()
