import dataclasses

import numpy as np
import pytest

from tokenshuffle.cli import main
from tokenshuffle.data import ImageCaptionFolder, SceneDataset, render_scene
from tokenshuffle.data.geneval import relative_position
from tokenshuffle.data.scene_style import PLAIN_GREY, STYLES, SceneStyle
from tokenshuffle.data.scene_writer import write_scenes
from tokenshuffle.data.scenes import _box

CANONICAL = STYLES["canonical"]
EITHER = dataclasses.replace(STYLES["reading"], reading_rows=0)  # reading, less the order


def test_textured_style_is_the_default_stream():
    plain, styled = SceneDataset(height=64, width=64, seed=7), SceneDataset(height=64, width=64, seed=7,
                                                                           style=STYLES["textured"])
    assert all(plain.spec(i) == styled.spec(i) for i in range(20))


def test_canonical_keeps_what_the_prompt_says_and_drops_the_nuisance():
    textured = SceneDataset(height=512, width=512, seed=3)
    canonical = SceneDataset(height=512, width=512, seed=3, style=CANONICAL)
    same = 0
    for i in range(60):
        a, b = textured.spec(i), canonical.spec(i)
        for obj in b.objects:
            assert obj.angle == 0 and obj.shade == 0
            for v in (*obj.center, obj.size):
                assert abs(v * 32 - round(v * 32)) < 1e-9  # on the 1/32 layout grid
        # Same draws: unless snapping broke the layout (then it is redrawn), the same scene content.
        if a.metadata == b.metadata:
            same += 1
            assert a.captions == b.captions and a.objects != b.objects
            assert [(o.shape, o.color) for o in a.objects] == [(o.shape, o.color) for o in b.objects]
    assert same >= 45


def test_canonical_position_scenes_still_hold_their_relation():
    ds = SceneDataset(height=512, width=512, seed=11, tasks=["position"], style=CANONICAL)
    for i in range(40):
        spec = ds.spec(i)
        relation = spec.metadata["include"][1]["position"][0]
        assert relation in relative_position(_box(spec.objects[0], 1.0), _box(spec.objects[1], 1.0))


def test_plain_background_is_one_grey():
    spec = SceneDataset(height=128, width=128, seed=0, style=CANONICAL).spec(0)
    img = np.asarray(render_scene(spec, height=128, width=128)).astype(int)
    assert (img[0, 0] == round(PLAIN_GREY)).all() and (img[-1, -1] == round(PLAIN_GREY)).all()
    textured = np.asarray(render_scene(SceneDataset(height=128, width=128, seed=0).spec(0), height=128, width=128))
    assert len(np.unique(textured[:8, :8].reshape(-1, 3), axis=0)) > 1  # the textured corner is not flat


def test_write_scenes_records_the_style(tmp_path):
    write_scenes(num=3, height=64, width=64, seed=1, out=tmp_path, progress=False, style=CANONICAL)
    folder = ImageCaptionFolder(tmp_path)
    assert folder.records[0]["style"] == {"background": "plain", "rotate": False, "shade": False, "snap": 32,
                                        "fixed_sizes": [], "reading_rows": 0}


def test_bad_style_names_itself(tmp_path, capsys):
    with pytest.raises(ValueError, match="background"):
        SceneStyle(background="stripes")
    with pytest.raises(ValueError, match="snap"):
        SceneStyle(snap=-1)
    out = tmp_path / "scenes"
    assert main(["data", "scenes", "--num", "2", "--style", "fancy", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "--style must be one of textured, canonical, fixed" in err and err.count("\n") == 1
    assert not out.exists()


def test_fixed_style_gives_one_size_per_object_count_and_the_canonical_layout():
    fixed = STYLES["fixed"]
    canonical = SceneDataset(height=512, width=512, seed=5, style=CANONICAL)
    ds = SceneDataset(height=512, width=512, seed=5, style=fixed)
    same = 0
    for i in range(60):
        spec = ds.spec(i)
        sizes = {o.size for o in spec.objects}
        assert sizes == {fixed.fixed_sizes[len(spec.objects) - 1]}
        for obj in spec.objects:
            assert obj.angle == 0 and obj.shade == 0
            assert all(abs(v * 32 - round(v * 32)) < 1e-9 for v in obj.center)
        if spec.task == "position":
            relation = spec.metadata["include"][1]["position"][0]
            assert relation in relative_position(_box(spec.objects[0], 1.0), _box(spec.objects[1], 1.0))
        same += spec.metadata == canonical.spec(i).metadata  # the same draws, only the sizes replaced
    assert same >= 40
    # Two copies of one object differ only by where they are: the same pixels once shifted.
    singles = SceneDataset(height=512, width=512, seed=5, tasks=["colors"], style=fixed)
    seen = {}
    for i in range(200):
        spec = singles.spec(i)
        key = (spec.objects[0].shape, spec.objects[0].color)
        if key in seen and seen[key].objects[0].center != spec.objects[0].center:
            a, b = seen[key], spec
            break
        seen[key] = spec
    img_a, img_b = (np.asarray(render_scene(s, height=512, width=512)) for s in (a, b))
    (xa, ya), (xb, yb) = (tuple(round(v * 512) for v in s.objects[0].center) for s in (a, b))
    assert np.array_equal(img_a[ya - 70 : ya + 70, xa - 70 : xa + 70], img_b[yb - 70 : yb + 70, xb - 70 : xb + 70])


def test_fixed_sizes_are_checked():
    with pytest.raises(ValueError, match="fixed_sizes must be empty or 4 sizes"):
        SceneStyle(fixed_sizes=(0.2, 0.3))
    with pytest.raises(ValueError, match="fixed_sizes"):
        SceneStyle(fixed_sizes=(0.2, 0.2, 0.2, 0.7))
    assert SceneStyle().size(0.3, num_objects=2) == 0.3 and STYLES["fixed"].size(0.3, num_objects=3) == 0.1875


def test_reading_order_names_the_first_object_met_first():
    reading = STYLES["reading"]
    tasks = ["two_object", "color_attr", "position"]
    either = SceneDataset(height=512, width=512, seed=5, tasks=tasks, style=EITHER)
    ordered = SceneDataset(height=512, width=512, seed=5, tasks=tasks, style=reading)
    swapped = same_layout = sides = 0
    for i in range(120):
        a, b = either.spec(i), ordered.spec(i)
        keys = [reading.reading_key(_box(o, 1.0)) for o in b.objects]
        relation = b.metadata["include"][1].get("position", [None])[0]
        if b.task == "position":
            assert relation in relative_position(_box(b.objects[0], 1.0), _box(b.objects[1], 1.0))
        if b.task != "position" or relation in ("left of", "right of"):
            sides += b.task == "position"
            assert keys[0] <= keys[1]
            for caption in b.captions:  # every phrasing names the objects in that order
                first, second = caption.replace(f" {relation} ", " and ").split(" and ")
                assert b.objects[0].shape in first and b.objects[1].shape in second
                if b.task == "color_attr":
                    assert b.objects[0].color in first and b.objects[1].color in second
        if {o.center for o in a.objects} == {o.center for o in b.objects}:  # the same draws, maybe reordered
            same_layout += 1
            swapped += a.objects[0] != b.objects[0]
    assert same_layout >= 70 and swapped >= 15 and sides >= 10  # either order names them both ways round


def test_reading_order_reads_one_band_left_to_right():
    style = SceneStyle(reading_rows=16)
    assert style.reading_key((0.6, 0.26, 0.8, 0.4)) < style.reading_key((0.1, 0.32, 0.3, 0.5))  # higher band
    assert style.reading_key((0.1, 0.27, 0.3, 0.5)) < style.reading_key((0.6, 0.25, 0.8, 0.4))  # same band: left
    with pytest.raises(ValueError, match="reading_rows"):
        SceneStyle(reading_rows=-1)


def test_reading_order_leaves_the_rest_and_never_draws_eval_prompts():
    reading = STYLES["reading"]
    tasks = ["position", "counting", "color_attr"]
    ordered = SceneDataset(height=512, width=512, seed=8, tasks=tasks, style=reading)
    for i in range(80):
        assert not set(ordered.spec(i).captions) & ordered.exclude_prompts
    # Without prompts to exclude (a redraw would part the two streams), the rest is drawn the same.
    ordered = SceneDataset(height=512, width=512, seed=8, tasks=tasks, style=reading, exclude_prompts=())
    either = SceneDataset(height=512, width=512, seed=8, tasks=tasks, style=EITHER,
                          exclude_prompts=())
    vertical = 0
    for i in range(80):
        b = ordered.spec(i)
        if b.task == "counting" or b.metadata["include"][1].get("position", [""])[0] in ("above", "below"):
            vertical += b.task == "position"
            assert b == either.spec(i)  # the same draws, so the same scene
    assert vertical >= 5


def test_reading_style_gives_every_count_one_size():
    ds = SceneDataset(height=512, width=512, seed=2, tasks=["counting"], style=STYLES["reading"])
    sizes = {(len(spec.objects), obj.size) for spec in map(ds.spec, range(60)) for obj in spec.objects}
    assert {n for n, _ in sizes} == {1, 2, 3, 4} and {size for _, size in sizes} == {0.25}
