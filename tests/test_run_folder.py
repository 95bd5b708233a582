import pytest

from tokenshuffle.run_folder import changed_settings, describe_changes, refuse_fixed, refuse_started


def test_changed_settings_are_listed_by_dotted_key():
    saved = {"lr": 0.1, "betas": [0.9, 0.95], "lm": {"dim": 64, "qk_norm": False}, "seed": 0}
    now = {"lr": 0.01, "betas": (0.9, 0.95), "lm": {"dim": 96, "qk_norm": False}, "seed": 0, "new": 1}
    changes = changed_settings(saved, now)
    assert changes == {"lm.dim": (64, 96), "lr": (0.1, 0.01)}  # "new": added since, not a change
    assert describe_changes({"lr": (0.1, 0.01)}) == "lr 0.1 -> 0.01"


def test_nested_tuples_equal_their_json_round_trip():
    # lm.grid_windows is a tuple of tuples in the config and a list of lists in the saved JSON
    saved = {"lm": {"grid_windows": [[64, 64, 4]]}}
    assert changed_settings(saved, {"lm": {"grid_windows": ((64, 64, 4),)}}) == {}
    assert changed_settings(saved, {"lm": {"grid_windows": ((64, 64, 2),)}}) == {
        "lm.grid_windows": ([[64, 64, 4]], [[64, 64, 2]])}


def test_fixed_settings_are_refused_in_one_line_naming_every_key(tmp_path):
    changes = {"lm.dim": (64, 96), "init_from": ("", "x"), "lr": (0.1, 0.01)}
    with pytest.raises(ValueError, match=r"^--resume: lm.dim \(64 -> 96\), init_from \('' -> 'x'\) cannot change"):
        refuse_fixed(changes, fixed=("lm", "init_from"), checkpoint=tmp_path)
    refuse_fixed({"lr": (0.1, 0.01), "lmx": (1, 2)}, fixed=("lm",), checkpoint=tmp_path)  # lmx is not under lm


def test_a_folder_holding_a_run_is_refused_without_resume(tmp_path):
    refuse_started(tmp_path, ("checkpoints", "log.jsonl"))  # empty: fine
    (tmp_path / "notes.txt").write_text("mine")
    refuse_started(tmp_path, ("checkpoints", "log.jsonl"))  # unrelated files: fine
    (tmp_path / "log.jsonl").write_text("")
    with pytest.raises(ValueError, match=r"already holds a run \(log.jsonl\); pass --resume"):
        refuse_started(tmp_path, ("checkpoints", "log.jsonl"))
