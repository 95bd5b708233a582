import dataclasses
import io
import json

import pytest
from PIL import Image, ImageFilter

from tokenshuffle.cli import main
from tokenshuffle.data.geneval import relative_position
from tokenshuffle.data.scene_render import render_scene
from tokenshuffle.data.scene_writer import write_scenes
from tokenshuffle.data.scenes import SceneDataset, scene_for_metadata
from tokenshuffle.data.shapes import SHAPES
from tokenshuffle.eval.scenes import Detection, detect, evaluate, score


def _det(shape, color="red", box=(0, 0, 10, 10)):
    return Detection(shape, color, box, 100, 0.0)


def test_relative_position_uses_geneval_margin():
    assert relative_position((0, 0, 10, 10), (20, 0, 30, 10)) == {"left of"}
    assert relative_position((0, 20, 10, 30), (0, 0, 10, 10)) == {"below"}
    # Centres 1 px apart with 10 px boxes: inside the 0.1 * (sum of sizes) margin, so no relation.
    assert relative_position((0, 0, 10, 10), (1, 0, 11, 10)) == set()
    # A mostly diagonal offset is both.
    assert relative_position((0, 0, 10, 10), (40, 40, 50, 50)) == {"left of", "above"}


def test_score_rules():
    meta_count = {"include": [{"class": "star", "count": 2}], "exclude": [{"class": "star", "count": 3}]}
    assert score([_det("star"), _det("star")], meta_count)[0]
    assert not score([_det("star")], meta_count)[0]  # too few
    assert not score([_det("star")] * 3, meta_count)[0]  # too many (exclude)
    meta_color = {"include": [{"class": "heart", "count": 1, "color": "blue"}]}
    assert score([_det("heart", "blue")], meta_color)[0]
    assert not score([_det("heart", "red")], meta_color)[0]
    assert not score([_det("circle", "blue")], meta_color)[0]  # wrong class
    meta_pos = {"include": [{"class": "circle", "count": 1}, {"class": "star", "count": 1, "position": ["left of", 0]}]}
    left, right = (0, 0, 10, 10), (30, 0, 40, 10)
    assert score([_det("star", box=left), _det("circle", box=right)], meta_pos)[0]
    ok, reason = score([_det("star", box=right), _det("circle", box=left)], meta_pos)
    assert not ok and "left of" in reason
    ok, reason = score([_det("star", box=left)], meta_pos)  # target group missing
    assert not ok and "no target" in reason


@pytest.mark.parametrize("size", [(256, 256), (200, 320)])
def test_ground_truth_renders_are_detected(size):
    ds = SceneDataset(height=size[0], width=size[1], seed=11)
    specs = [ds.spec(i) for i in range(24)]
    imgs = [render_scene(s, height=size[0], width=size[1]) for s in specs]
    result = evaluate(imgs, [s.metadata for s in specs])
    assert result["overall"] == 1.0 and len(result["per_task"]) == 6


def test_every_shape_and_colour_is_recognised_after_blur_and_jpeg():
    for i, shape in enumerate(SHAPES):
        for color in ("red", "white", "black", "brown", "pink"):
            meta = {"tag": "colors", "include": [{"class": shape, "count": 1, "color": color}], "prompt": ""}
            img = render_scene(scene_for_metadata(meta, rng=i), height=128, width=128)
            img = img.filter(ImageFilter.GaussianBlur(0.7))
            buf = io.BytesIO()
            img.save(buf, format="JPEG", quality=75)
            dets = detect(Image.open(buf))
            assert [(d.shape, d.color) for d in dets] == [(shape, color)]


def test_wrong_images_are_rejected():
    ds = SceneDataset(height=128, width=128, seed=0)
    spec = next(ds.spec(i) for i in range(100) if ds.spec(i).task == "position")
    img = render_scene(spec, height=128, width=128)
    assert evaluate([img], [spec.metadata])["overall"] == 1.0
    mirrored = img.transpose(
        Image.FLIP_LEFT_RIGHT
        if spec.metadata["include"][1]["position"][0] in ("left of", "right of")
        else Image.FLIP_TOP_BOTTOM
    )
    assert evaluate([mirrored], [spec.metadata])["overall"] == 0.0  # swapped positions
    spec_c = next(ds.spec(i) for i in range(200) if ds.spec(i).task == "colors")
    group = spec_c.metadata["include"][0]
    other = "green" if group["color"] != "green" else "blue"
    recoloured = dataclasses.replace(spec_c, objects=(dataclasses.replace(spec_c.objects[0], color=other),))
    assert not evaluate([render_scene(recoloured, height=128, width=128)], [spec_c.metadata])["results"][0]["correct"]
    spec_n = next(ds.spec(i) for i in range(200) if ds.spec(i).task == "counting" and len(ds.spec(i).objects) >= 2)
    fewer = dataclasses.replace(spec_n, objects=spec_n.objects[:-1])
    assert not evaluate([render_scene(fewer, height=128, width=128)], [spec_n.metadata])["results"][0]["correct"]


def test_shuffled_images_score_low():
    ds = SceneDataset(height=96, width=96, seed=5)
    specs = [ds.spec(i) for i in range(60)]
    imgs = [render_scene(s, height=96, width=96) for s in specs]
    shuffled = imgs[7:] + imgs[:7]
    assert evaluate(shuffled, [s.metadata for s in specs])["overall"] < 0.3


def test_cli_on_a_folder_writes_json(tmp_path, capsys):
    write_scenes(num=12, height=96, width=96, seed=1, out=tmp_path / "scenes", progress=False)
    out = tmp_path / "result.json"
    assert main(["eval", "scenes", "--images", str(tmp_path / "scenes"), "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["overall"] == 1.0 and result["num_images"] == 12
    assert "overall" in capsys.readouterr().out
    # Plain GenEval lines in image order, two images per line.
    lines = [json.loads(x)["metadata"] for x in (tmp_path / "scenes" / "captions.jsonl").read_text().splitlines()]
    meta = tmp_path / "meta.jsonl"
    meta.write_text("".join(json.dumps(m) + "\n" for m in lines[:6]))
    assert main(["eval", "scenes", "--images", str(tmp_path / "scenes"), "--metadata", str(meta)]) == 0
    assert main(["eval", "scenes", "--images", str(tmp_path / "nope"), "--metadata", str(meta)]) == 2
