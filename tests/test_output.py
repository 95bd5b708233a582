import os

import pytest

from tokenshuffle.output import check_out_dir, check_out_file, write_files


def test_check_out_file_makes_missing_folders_and_refuses_folders_and_wrong_suffixes(tmp_path):
    assert check_out_file(tmp_path / "a" / "b" / "x.png", suffix=".png") == tmp_path / "a" / "b" / "x.png"
    assert (tmp_path / "a" / "b").is_dir() and not list((tmp_path / "a" / "b").iterdir())
    with pytest.raises(ValueError, match="--out .* is a folder"):
        check_out_file(tmp_path / "a")
    with pytest.raises(ValueError, match="--out must name a .png file"):
        check_out_file(tmp_path / "x.jpg", suffix=".png")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is not a folder"):
        check_out_file(tmp_path / "file" / "x.png")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folders_are_refused(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(ValueError, match="cannot write there"):
            check_out_file(ro / "x.png")
        with pytest.raises(ValueError, match="cannot write there"):
            check_out_dir(ro / "sub")
    finally:
        ro.chmod(0o700)


def test_check_out_dir_refuses_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(ValueError, match="--data-out .* is a file"):
        check_out_dir(tmp_path / "f", flag="--data-out")
    assert check_out_dir(tmp_path / "new").is_dir()


def test_write_files_leaves_nothing_when_one_write_fails(tmp_path):
    def ok(p):
        with open(p, "w") as f:
            f.write("ok")

    def fail(p):
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        write_files({tmp_path / "a.png": ok, tmp_path / "b.png": fail, tmp_path / "c.png": ok})
    assert list(tmp_path.iterdir()) == []
    write_files({tmp_path / "a.png": ok, tmp_path / "b.png": ok})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png"]
    assert (tmp_path / "a.png").stat().st_mode & 0o777 == 0o666 & ~_umask()


def _umask():
    m = os.umask(0)
    os.umask(m)
    return m
