import json

from PIL import Image

from tokenshuffle.cli import main
from tokenshuffle.data.folder import CAPTIONS_FILE, FolderWriter, read_records
from tokenshuffle.data.split import is_heldout, normal_key, split_folder


def _folder(root, names):
    with FolderWriter(root) as writer:
        for i, name in enumerate(names):
            img = Image.new("RGB", (16, 16), (i % 256, 0, 0))
            writer.add(img, caption=f"a {name}", metadata={"name": name}, source="test", license="CC0-1.0")


def test_split_keeps_every_record_once_and_each_name_on_one_side(tmp_path):
    # each name drawn 2-3 times, like one emoji in three packages that spell it differently
    names = [["thing {}", "Thing: {}", "thing-{}!"][i % 3].format(i % 60) for i in range(150)]
    _folder(tmp_path / "all", names)
    counts = split_folder(tmp_path / "all", train=tmp_path / "tr", heldout=tmp_path / "ho", fraction=0.25, by="name")
    train = read_records(tmp_path / "tr" / CAPTIONS_FILE)
    held = read_records(tmp_path / "ho" / CAPTIONS_FILE)
    assert len(train) + len(held) == 150 == counts["train"]["images"] + counts["heldout"]["images"]
    train_names = {normal_key(r["metadata"]["name"]) for r in train}
    held_names = {normal_key(r["metadata"]["name"]) for r in held}
    assert not train_names & held_names and len(train_names | held_names) == 60
    assert 5 <= len(held_names) <= 25  # about a quarter of 60
    # images travel with their records; fields other than the index ones are kept
    first = held[0]
    original = next(r for r in read_records(tmp_path / "all" / CAPTIONS_FILE) if r["caption"] == first["caption"])
    assert (tmp_path / "ho" / first["file"]).read_bytes() == (tmp_path / "all" / original["file"]).read_bytes()
    assert first["source"] == "test" and first["license"] == "CC0-1.0"


def test_a_keys_side_depends_only_on_the_key_and_seed():
    keys = [f"k{i}" for i in range(2000)]
    sides = [is_heldout(k, fraction=0.05) for k in keys]
    assert sides == [is_heldout(k, fraction=0.05) for k in reversed(keys)][::-1]
    assert 60 <= sum(sides) <= 140
    assert sides != [is_heldout(k, fraction=0.05, seed=1) for k in keys]
    # a larger fraction only adds keys
    assert all(is_heldout(k, fraction=0.2) for k, s in zip(keys, sides, strict=True) if s)


def test_split_cli_by_caption_and_bad_input(tmp_path, capsys):
    _folder(tmp_path / "all", [f"n{i}" for i in range(40)])
    args = ["data", "split", "--data", str(tmp_path / "all"), "--train", str(tmp_path / "tr"),
            "--heldout", str(tmp_path / "ho")]
    assert main([*args, "--fraction", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "train:" in out and "heldout:" in out
    held = {json.loads(line)["caption"] for line in (tmp_path / "ho" / CAPTIONS_FILE).read_text().splitlines()}
    assert held == {f"a n{i}" for i in range(40) if is_heldout(f"a n{i}", fraction=0.5)}
    assert normal_key("Flag: Peru") == normal_key("flag peru") == "flag peru"
    assert normal_key("up-right_arrow, café") == "up right arrow café"
    for bad in ("0", "1", "-0.1"):
        assert main([*args, "--fraction", bad]) == 2
        assert "--fraction must be in (0, 1)" in capsys.readouterr().err
    assert main([*args, "--by", "colour"]) == 2
    assert "--by colour" in capsys.readouterr().err
