"""docs/train-on-your-data.md, run: every ``tokenshuffle`` line of its command block, in order, on 32 images.

The only changes to the commands are the sizes: 32 images from two emoji/clipart packages in 3 shards
(or, where the packages are not cached and cannot be fetched, 32 synthetic scenes in their place) and
4 training steps instead of 100 and 40.
"""

import json
import re
import shlex
from pathlib import Path

from PIL import Image

from tokenshuffle.cli import main

DOC = Path(__file__).resolve().parents[1] / "docs" / "train-on-your-data.md"
SMALLER = {
    "--limit 16 --sources fluentui-emoji,noto,openclipart": "--limit 16 --sources noto,openclipart",
    "--per-shard 16": "--per-shard 11",
    "num_steps=100": "num_steps=4",
    "num_steps=40": "num_steps=4",
}


def _commands() -> list[list[str]]:
    text = DOC.read_text()
    block = re.search(r"<!-- walkthrough-commands.*?-->\s*```sh\n(.*?)```", text, re.S).group(1)
    lines = [line for line in block.splitlines() if line.startswith("tokenshuffle ")]
    for old, new in SMALLER.items():
        assert any(old in line for line in lines), f"the walkthrough no longer has {old!r}"
        lines = [line.replace(old, new) for line in lines]
    return [shlex.split(line)[1:] for line in lines]


def test_walkthrough_runs_as_written_on_32_images(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    commands = _commands()
    assert [c[0] for c in commands] == ["data", "data", "train-vq", "encode", "train", "export", "generate"]
    assert main(commands[0]) == 0
    if len(list(Path("data/emoji/images").glob("*.png"))) < 32:  # packages neither cached nor reachable
        assert main(["data", "scenes", "--num", "32", "--height", "64", "--width", "64", "--out", "data/emoji"]) == 0
    for command in commands[1:]:
        assert main(command) == 0, command
    assert len(list(Path("data/emoji-wds").glob("*.tar"))) == 3
    index = json.loads(Path("codes/emoji/index.json").read_text())
    assert index["num_items"] == 32 and index["grid"] == [4, 4]
    assert (Path("models/emoji-small") / "pipeline.json").is_file()
    assert Image.open("out/red-heart.png").size == (4 * 64, 64)
