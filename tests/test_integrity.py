import math

import torch

from tokenshuffle.integrity import check_files, describe_files, is_sealed_intact, nonfinite_tensors, seal


def test_files_are_checked_by_size_and_sha256(tmp_path):
    (tmp_path / "a").write_bytes(b"hello world")
    files = describe_files(tmp_path, ["a"])
    assert check_files(tmp_path, files) is None
    (tmp_path / "a").write_bytes(b"hello World")
    assert "sha256" in check_files(tmp_path, files)
    (tmp_path / "a").write_bytes(b"hello")
    assert "has 5 bytes, expected 11" in check_files(tmp_path, files)
    assert check_files(tmp_path, {"a": 5}) is None  # a legacy size-only record
    (tmp_path / "a").unlink()
    assert check_files(tmp_path, files) == "a is missing"


def test_a_sealed_manifest_detects_any_edit_and_survives_a_json_round_trip():
    import json

    meta = seal({"step": 4, "lr": 0.1 + 0.2, "nested": {"x": [1, 2.5, None, "s"]}, "nan": math.nan})
    assert is_sealed_intact(json.loads(json.dumps(meta, indent=1)))
    assert not is_sealed_intact({**meta, "step": 5})
    assert not is_sealed_intact({k: v for k, v in meta.items() if k != "sha256"})


def test_nonfinite_tensors_are_named_through_nesting():
    state = {"a": torch.ones(2), "b": {"m": torch.tensor([1.0, math.inf])}, "i": torch.tensor([3]), "s": 1.0}
    assert nonfinite_tensors(state) == ["b/m"]
