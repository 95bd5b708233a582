"""serialization: atomic writes leave a finished file or folder with the permissions a plain write gives."""

import os
import stat

import torch
from torch import nn

from tokenshuffle.serialization import atomic_write, read_component, save_component, write_json


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_files_get_the_mode_of_a_plain_write(tmp_path):
    (tmp_path / "plain.txt").write_text("x")
    atomic_write(tmp_path / "atomic.txt", lambda p: open(p, "w").write("y"))
    write_json(tmp_path / "a.json", {"a": 1})
    assert (tmp_path / "atomic.txt").read_text() == "y"
    assert _mode(tmp_path / "atomic.txt") == _mode(tmp_path / "plain.txt")
    assert _mode(tmp_path / "a.json") == _mode(tmp_path / "plain.txt")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_saved_component_folders_get_the_mode_of_mkdir_and_round_trip(tmp_path):
    (tmp_path / "plain").mkdir()
    module = nn.Linear(3, 2)
    out = save_component(tmp_path / "comp", config_json='{"k": 1}', module=module)
    assert _mode(out) == _mode(tmp_path / "plain")
    save_component(out, config_json='{"k": 2}', module=module)  # replacing keeps the mode too
    assert _mode(out) == _mode(tmp_path / "plain")
    config, state = read_component(out, what="component")
    assert config == {"k": 2}
    assert torch.equal(state["weight"], module.weight.detach())
