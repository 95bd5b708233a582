"""serialization: atomic writes leave a finished file or folder with the permissions a plain write gives;
replacing a folder never loses it, even with a crash between the fallback's two renames."""

import os
import stat

import pytest
import torch
from torch import nn

from tokenshuffle.serialization import (
    atomic_write,
    fsync_path,
    fsync_tree,
    read_component,
    recover_dir,
    replace_dir,
    save_component,
    write_json,
)


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


def _folder(path, text):
    path.mkdir()
    (path / "a.txt").write_text(text)
    return path


def test_replace_dir_swaps_a_folder_in_one_step_and_leaves_nothing_behind(tmp_path):
    final = _folder(tmp_path / "final", "old")
    replace_dir(_folder(tmp_path / ".new.tmp", "new"), final)
    assert (final / "a.txt").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["final"]


def test_the_two_rename_fallback_can_be_undone_after_a_crash_between_them(tmp_path, monkeypatch):
    import tokenshuffle.serialization as S

    monkeypatch.setattr(S, "_exchange", lambda a, b: False)  # a kernel or file system without the swap
    final = _folder(tmp_path / "final", "old")
    replace_dir(_folder(tmp_path / ".n1.tmp", "new"), final)
    assert (final / "a.txt").read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["final"]

    class Crash(BaseException):
        pass

    real, calls = os.replace, []

    def replace_then_crash(src, dst):
        calls.append(dst)
        if len(calls) == 2:  # the process dies between the two renames
            raise Crash
        real(src, dst)

    monkeypatch.setattr(S.os, "replace", replace_then_crash)
    with pytest.raises(Crash):
        replace_dir(_folder(tmp_path / ".n2.tmp", "newer"), final)
    monkeypatch.setattr(S.os, "replace", real)
    assert not final.exists() and S.aside_path(final).is_dir()  # the old folder is only moved aside
    assert recover_dir(final) and (final / "a.txt").read_text() == "new"
    replace_dir(_folder(tmp_path / ".n3.tmp", "newest"), final)  # a later replace also recovers first
    assert (final / "a.txt").read_text() == "newest"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".n2.tmp", "final"]  # the crashed save's own tmp


def test_fsync_helpers_accept_files_and_folders(tmp_path):
    _folder(tmp_path / "d", "x")
    fsync_tree(tmp_path)
    fsync_path(tmp_path / "d" / "a.txt")
    atomic_write(tmp_path / "durable.txt", lambda p: open(p, "w").write("z"), durable=True)
    assert (tmp_path / "durable.txt").read_text() == "z"
