"""The CNN study's ingredients: LFW faces as objects, photos as backgrounds, the PNet detector as
a reference row judged like a template, and the colour twin of cnn.toml."""

from __future__ import annotations

import csv
import tomllib

import numpy as np
import pytest

from fractal_match import DATA_DIR, FractalMatchError, load_config
from fractal_match.experiments.config import ConfigError
from fractal_match.images import load_image
from fractal_match.templates.kernels import expand_kernel_names, load_faces, load_kernel, resize_kernel
from fractal_match.experiments.scenes import synthetic_scene


def test_lfw_kernels_are_the_bundled_crops():
    faces, non_faces = load_faces()
    assert np.abs(load_kernel("lfw:face-7").image / 255.0 - faces[7]).max() <= 0.5 / 255 + 1e-9
    assert np.abs(load_kernel("lfw:non-face-99").image / 255.0 - non_faces[99]).max() <= 0.5 / 255 + 1e-9
    with pytest.raises(FractalMatchError, match="unknown lfw crop 'face-100'"):
        load_kernel("lfw:face-100")


def test_a_pattern_expands_to_every_matching_name_in_order():
    assert expand_kernel_names("lfw:face-*") == [f"lfw:face-{k}" for k in range(100)]
    assert expand_kernel_names("lfw:face-1[0-9]") == [f"lfw:face-{k}" for k in range(10, 20)]
    assert expand_kernel_names("bank:ring") == ["bank:ring"]
    with pytest.raises(FractalMatchError, match="matches no lfw: kernel"):
        expand_kernel_names("lfw:cat-*")


def test_a_face_pasted_into_a_photo_is_the_only_change_to_the_photo():
    scene, box, picture = synthetic_scene(1, 0, ("brick", "coffee"), ("lfw:face-0", "lfw:face-1"), 64, 384, color=True)
    assert scene.shape == (384, 384, 3) and (box.w, box.h) == (64, 64)
    np.testing.assert_array_equal(scene[box.y:box.y + 64, box.x:box.x + 64], picture)
    expected = resize_kernel(load_kernel("lfw:face-1", "color"), 64).image
    np.testing.assert_array_equal(picture, expected)
    # everywhere else the scene is a crop of the coffee photo (at full resolution: 400 x 600),
    # found by an exact match of a corner patch away from the face
    import cv2

    photo = load_image(DATA_DIR / "images" / "coffee.png", "color")
    corner = (0, 0) if box.x > 40 or box.y > 40 else (384 - 40, 384 - 40)
    patch = scene[corner[0]:corner[0] + 40, corner[1]:corner[1] + 40]
    difference = cv2.matchTemplate(photo, patch, cv2.TM_SQDIFF)
    top, left = np.unravel_index(np.argmin(difference), difference.shape)
    assert difference[top, left] == 0
    top, left = top - corner[0], left - corner[1]
    outside = np.ones(scene.shape[:2], bool)
    outside[box.y:box.y + 64, box.x:box.x + 64] = False
    np.testing.assert_array_equal(photo[top:top + 384, left:left + 384][outside], scene[outside])


def test_an_ellipse_paste_leaves_no_square_edge():
    from fractal_match.experiments.scenes import ellipse_alpha

    alpha = ellipse_alpha(64, 48)
    assert alpha.min() == 0.0 and alpha.max() == 1.0 and alpha[32, 24] == 1.0
    for border in (alpha[0, :], alpha[-1, :], alpha[:, 0], alpha[:, -1]):
        assert np.all(border == 0.0)  # the box's border pixels are background
    square = synthetic_scene(2, 0, ("gravel",), ("lfw:face-5",), 64, 256, paste="square")
    blended = synthetic_scene(2, 0, ("gravel",), ("lfw:face-5",), 64, 256, paste="ellipse")
    box = square[1]
    assert box == blended[1]  # same place: the paste changes only how the face meets the gravel
    inside = (slice(box.y + 24, box.y + 40), slice(box.x + 24, box.x + 40))
    np.testing.assert_array_equal(square[0][inside], blended[0][inside])
    corner = (slice(box.y, box.y + 4), slice(box.x, box.x + 4))
    assert not np.array_equal(square[0][corner], blended[0][corner])
    np.testing.assert_array_equal(blended[0][box.y - 5:box.y, :], square[0][box.y - 5:box.y, :])


def _config(tmp_path, extra: str, variants: str = '[[variants]]\nfamily = "none"\n') -> str:
    path = tmp_path / "c.toml"
    path.write_text(f'name = "c"\nkernels = ["learned:mean-face"]\n[targets]\n{extra}\n{variants}')
    return str(path)


def test_backgrounds_are_textures_or_photos_and_a_wrong_one_lists_them(tmp_path):
    good = _config(tmp_path, '[targets.synthetic]\nobjects = ["lfw:face-*"]\ntextures = ["text", "gravel"]')
    config = load_config(good)
    assert len(config.targets.synthetic.objects) == 100
    bad = _config(tmp_path, '[targets.synthetic]\ntextures = ["moon"]')
    with pytest.raises(ConfigError, match=r"unknown background 'moon' \(allowed: brick, grass, gravel, astronaut"):
        load_config(bad)


def test_globs_never_touch_options(tmp_path):
    assert expand_kernel_names("cnn:onet/face?steps=100") == ["cnn:onet/face?steps=100"]
    assert expand_kernel_names("lfw:face-[12]?x=1") == ["lfw:face-1?x=1", "lfw:face-2?x=1"]
    good = _config(tmp_path, '[targets.synthetic]\nobjects = ["bank:gabor?size=64", "lfw:face-1*"]')
    assert load_config(good).targets.synthetic.objects[:2] == ("bank:gabor?size=64", "lfw:face-1")
    bad = _config(tmp_path, '[targets.synthetic]\nobjects = ["lfw:cat-*"]')
    with pytest.raises(ConfigError, match="field 'targets.synthetic.objects'"):
        load_config(bad)
    empty = _config(tmp_path, '[targets.synthetic]\ntextures = []')
    with pytest.raises(ConfigError, match="field 'targets.synthetic.textures' is empty"):
        load_config(empty)


def test_the_detector_variant_takes_no_parameters(tmp_path):
    bad = _config(tmp_path, 'annotations = ["astronaut/face"]',
                  '[[variants]]\nfamily = "pnet-detector"\nparams = { net = "onet" }\n')
    with pytest.raises(ConfigError, match="is not used by the pnet-detector variant"):
        load_config(bad)


def test_the_detector_row_is_judged_like_a_template(tmp_path):
    pytest.importorskip("jax")
    import math

    from fractal_match import run_experiment
    from fractal_match.templates.cnn.nets import pnet_pyramid
    from fractal_match.datasets import find_annotation
    from fractal_match.experiments.plan import count_cases
    from fractal_match.geometry import Pose, transform_target

    path = _config(tmp_path, 'annotations = ["astronaut/face", "camera/face"]\n[transforms]\nscales = [1.0, 0.5]\n'
                   'rotations = [0, 30]\n', '[[variants]]\nfamily = "none"\n[[variants]]\nfamily = "pnet-detector"\n')
    config = load_config(path)
    assert count_cases(config)[1] == 8  # the detector is no template match: 2 faces x 4 poses x 1 template
    run_experiment(config, tmp_path / "run", executor="serial")
    rows = list(csv.DictReader((tmp_path / "run" / "results.csv").open()))
    detector = [r for r in rows if r["variant"] == "pnet-detector"]
    assert len(detector) == 8 * 6 and {r["templates"] for r in detector} == {"0"}
    for group in {r["group_id"] for r in detector}:
        same = {(r["x"], r["y"], r["score"], r["hit"], r["rank"]) for r in detector if r["group_id"] == group}
        assert len(same) == 1  # one detection per group, whatever the method
    assert len({(r["x"], r["y"]) for r in detector}) == 8  # and a detection of its own for every pose
    assert all(r["psr"] == "nan" and r["margin"] == "nan" for r in detector)
    # judged again here by hand: the best pyramid box, its centre within a quarter of the smaller
    # side of the posed face (the rule every template row follows)
    for name in ("astronaut/face", "camera/face"):
        for scale, rotation in ((1.0, 0.0), (0.5, 30.0)):
            annotation = find_annotation(name)
            target, _, centre, _ = transform_target(load_image(annotation.image, "gray"), annotation.box,
                                                    Pose(scale, rotation))
            x, y, w, h, logit = pnet_pyramid(target)[0]
            hit = math.hypot(x + w / 2 - centre[0], y + h / 2 - centre[1]) <= 0.25 * min(annotation.box.w, annotation.box.h) * scale
            row = next(r for r in detector if r["object"] == name and float(r["scale"]) == scale
                       and float(r["rotation"]) == rotation)
            assert (int(row["x"]), int(row["y"]), row["hit"]) == (round(x), round(y), str(int(hit)))
            assert abs(float(row["score"]) - logit) < 1e-4
    upright = {r["object"]: r for r in detector if r["scale"] == "1" and r["rotation"] == "0"}
    assert upright["astronaut/face"]["hit"] == "1" and upright["camera/face"]["hit"] == "1"


def test_a_target_too_small_for_the_detector_gets_an_undefined_row(tmp_path):
    pytest.importorskip("jax")
    from fractal_match import run_experiment

    path = _config(tmp_path, '[targets.synthetic]\ncount = 1\nobject_size = 8\nscene_size = 16\n',
                   '[[variants]]\nfamily = "pnet-detector"\n')
    run_experiment(load_config(path), tmp_path / "run", executor="serial")
    rows = list(csv.DictReader((tmp_path / "run" / "results.csv").open()))
    assert {r["hit"] for r in rows} == {"0"}
    assert {r["status"] for r in rows} == {"undefined: the target (16 x 16 px) is smaller than the detector's smallest face (20 px)"}


def test_the_colour_study_is_the_gray_one_in_colour():
    gray = tomllib.loads((DATA_DIR / "experiments" / "cnn.toml").read_text())
    color = tomllib.loads((DATA_DIR / "experiments" / "cnn-color.toml").read_text())
    assert (gray.pop("name"), color.pop("name")) == ("cnn", "cnn-color")
    assert (gray["matching"].pop("color"), color["matching"].pop("color")) == (False, True)
    assert gray == color
