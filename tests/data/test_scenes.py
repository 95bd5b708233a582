import numpy as np
import pytest
import torch

from tokenshuffle.data import ImageCaptionFolder, SceneDataset, load_eval_prompts, render_scene, sample_scene
from tokenshuffle.data import scenes as scenes_mod
from tokenshuffle.data.geneval import TASKS
from tokenshuffle.data.scene_writer import write_scenes
from tokenshuffle.data.scenes import scene_for_metadata
from tokenshuffle.data.shapes import HARD_PAIRS


def _take(ds, num):
    it = iter(ds)
    return [next(it) for _ in range(num)]


def test_same_seed_same_stream_and_different_seed_differs():
    a = _take(SceneDataset(height=64, width=96, seed=3), 6)
    b = _take(SceneDataset(height=64, width=96, seed=3), 6)
    c = _take(SceneDataset(height=64, width=96, seed=4), 6)
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x["image"], y["image"]) and x["caption"] == y["caption"]
        assert x["image"].shape == (3, 64, 96) and x["image"].dtype == torch.uint8
    assert any(not torch.equal(x["image"], z["image"]) for x, z in zip(a, c, strict=True))


def test_shards_split_the_global_stream(monkeypatch):
    ds = SceneDataset(height=32, width=32, seed=1)
    full = [ds.sample(i)["caption"] for i in range(8)]
    streams = []
    for rank in range(2):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "2")
        streams.append([s["caption"] for s in _take(ds, 4)])
    assert streams[0] == full[0::2] and streams[1] == full[1::2]
    monkeypatch.setattr(scenes_mod, "_shard", lambda: (1, 3))
    assert [s["caption"] for s in _take(ds, 2)] == [full[1], full[4]]


def test_a_task_named_twice_is_drawn_twice_as_often():
    ds = SceneDataset(height=32, width=32, seed=5, tasks=("position", "color_attr", "color_attr"))
    tags = [ds.spec(i).metadata["tag"] for i in range(600)]
    assert set(tags) == {"position", "color_attr"}
    assert 1.6 < tags.count("color_attr") / tags.count("position") < 2.5


def test_training_never_draws_holdout_pairs_or_eval_prompts():
    ds = SceneDataset(height=64, width=64, seed=0)
    prompts = {m["prompt"] for split in ("val", "hard") for m in load_eval_prompts(split)}
    hard = set(HARD_PAIRS)
    for i in range(400):
        spec = ds.spec(i)
        assert not prompts & set(spec.captions)
        assert not {(o.color, o.shape) for o in spec.objects} & hard


def test_every_task_has_metadata_in_geneval_format():
    rng = np.random.default_rng(0)
    for task in TASKS:
        spec = sample_scene(task=task, rng=rng)
        meta = spec.metadata
        assert meta["tag"] == task and meta["prompt"] == spec.captions[0]
        assert all({"class", "count"} <= set(g) for g in meta["include"])
        assert sum(g["count"] for g in meta["include"]) == len(spec.objects)


def test_objects_are_large_and_anti_aliased_at_256():
    spec = sample_scene(task="counting", rng=5)
    img = np.asarray(render_scene(spec, height=256, width=256))
    for obj in spec.objects:
        assert obj.size * 256 >= 40
    # Anti-aliasing leaves intermediate values between object and background colours.
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 200


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="task"):
        sample_scene(task="nope", rng=0)
    with pytest.raises(ValueError, match="height"):
        SceneDataset(height=8, width=64)


def test_write_scenes_round_trips_through_the_folder_reader(tmp_path):
    summary = write_scenes(num=5, height=48, width=64, seed=2, out=tmp_path, progress=False)
    assert summary["num_images"] == 5
    folder = ImageCaptionFolder(tmp_path)
    ds = SceneDataset(height=48, width=64, seed=2)
    for i in range(5):
        item = folder[i]
        assert torch.equal(item["image"], ds.sample(i)["image"])
        assert item["metadata"]["prompt"] == ds.spec(i).metadata["prompt"] == item["caption"]


def test_scene_for_metadata_builds_the_eval_prompts():
    meta = load_eval_prompts("hard")[7]
    spec = scene_for_metadata(meta, rng=0)
    wanted = {(g["color"], g["class"]) for g in meta["include"]}
    assert {(o.color, o.shape) for o in spec.objects} == wanted
