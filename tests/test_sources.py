"""Targets of your own: an annotations TOML file, a COCO file, pairs under poses, the hit rule,
and every bad input refused in one line before a run folder exists."""

import csv
import json
import math

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from fractal_match import ConfigError, save_image
from fractal_match.cli import app
from fractal_match.engine.measure import measure_batch
from fractal_match.engine.metrics import Truth
from fractal_match.experiments.cases import CaseRunner, hit_rule
from fractal_match.experiments.config import load_config
from fractal_match.experiments.plan import describe_targets, make_plan, split_targets, sources
from fractal_match.experiments.runs import run_experiment
from fractal_match.experiments.sources import load_coco
from fractal_match.geometry import Box, iou, transform_target

runner = CliRunner()
METHOD = 'methods = ["TM_CCOEFF_NORMED"]'


def photo(path, seed=0, size=(200, 240), marks=()):
    """A textured photo; `marks`: boxes whose centre pixel is set to 255 on a dark picture instead."""
    rng = np.random.default_rng(seed)
    if marks:
        image = np.zeros(size, np.uint8)
        for x, y, w, h in marks:  # a 3 x 3 mark about the centre pixel
            image[int(y + h // 2) - 1: int(y + h // 2) + 2, int(x + w // 2) - 1: int(x + w // 2) + 2] = 255
    else:
        image = cv2.GaussianBlur(rng.integers(0, 256, size).astype(np.uint8), (0, 0), 1.5)
    save_image(path, image)
    return image


def boxes_toml(folder, objects, header=""):
    lines = [header]
    for image, label, box in objects:
        lines += ["[[object]]", f'image = "{image}"', f'label = "{label}"', f"box = {list(box)}"]
    (folder / "boxes.toml").write_text("\n".join(lines) + "\n")
    return folder / "boxes.toml"


def config(folder, targets, transforms="", extra="", variants=("none",)):
    text = (f'name = "own"\nkernels = ["crop"]\n[targets]\n{targets}\n{transforms}\n'
            + "".join(f'[[variants]]\nfamily = "{v}"\n' for v in variants) + f"[matching]\n{METHOD}\n{extra}")
    path = folder / "own.toml"
    path.write_text(text)
    return path


def coco(folder, images, annotations, categories=((1, "eye"), (2, "mouth")), name="instances.json"):
    data = {"images": [{"id": i, "file_name": f, "width": 240, "height": 200} for i, f in images],
            "categories": [{"id": i, "name": n} for i, n in categories],
            "annotations": [{"id": a, "image_id": i, "category_id": c, "bbox": list(b), "iscrowd": crowd, "area": 1}
                            for a, i, c, b, crowd in annotations]}
    (folder / name).write_text(json.dumps(data))
    return folder / name


# --- your own annotations file ------------------------------------------------------------------

def test_an_annotations_file_of_your_own_runs_under_every_pose(tmp_path):
    photo(tmp_path / "portrait.png", 1)
    photo(tmp_path / "other.png", 2)
    boxes_toml(tmp_path, [("portrait.png", "left-eye", (60, 70, 31, 21)), ("portrait.png", "right-eye", (140, 72, 31, 21)),
                          ("other.png", "left-eye", (30, 40, 41, 25))])
    path = config(tmp_path, 'annotations = "boxes.toml"', "[transforms]\nscales = [1.0, 1.25]\nrotations = [0, 30]")
    plan = make_plan(load_config(path))
    assert [ref.id for ref in plan.targets] == ["portrait/left-eye", "portrait/right-eye", "other/left-eye"]
    assert len(plan.groups) == 3 * 4 and {g.id.split("@")[1] for g in plan.groups} == {"s1r0", "s1r30", "s1.25r0", "s1.25r30"}
    assert describe_targets(plan.config, plan.targets) == ["3 object(s) from boxes.toml: left-eye 2, right-eye 1"]
    run_experiment(plan, tmp_path / "run", executor="serial")
    rows = list(csv.DictReader((tmp_path / "run" / "results.csv").open()))
    assert len(rows) == 12 and {(r["scale"], r["rotation"]) for r in rows} == {("1", "0"), ("1", "30"), ("1.25", "0"), ("1.25", "30")}
    assert all(r["hit"] == "1" and float(r["score"]) > 0.999 for r in rows if r["scale"] == "1" and r["rotation"] == "0")
    # the label filter (a glob) keeps the left eyes only; the folder of images may be named
    (tmp_path / "photos").mkdir()
    for name in ("portrait.png", "other.png"):
        (tmp_path / name).rename(tmp_path / "photos" / name)
    path = config(tmp_path, '[targets.annotations]\nfile = "boxes.toml"\nimages = "photos"\nlabels = ["left-*"]')
    assert [ref.id for ref in make_plan(load_config(path)).targets] == ["portrait/left-eye", "other/left-eye"]


def test_the_images_folder_of_an_annotations_file_is_its_own_key_then_images_then_its_folder(tmp_path):
    (tmp_path / "images").mkdir()
    photo(tmp_path / "images" / "a.png")
    boxes_toml(tmp_path, [("a.png", "thing", (10, 10, 20, 20))])
    found = make_plan(load_config(config(tmp_path, 'annotations = "boxes.toml"'))).targets[0].annotation
    assert found.image == tmp_path / "images" / "a.png"
    (tmp_path / "elsewhere").mkdir()
    photo(tmp_path / "elsewhere" / "a.png")
    boxes_toml(tmp_path, [("a.png", "thing", (10, 10, 20, 20))], header='images = "elsewhere"')
    found = make_plan(load_config(config(tmp_path, 'annotations = "boxes.toml"'))).targets[0].annotation
    assert found.image == tmp_path / "elsewhere" / "a.png"


def test_a_changed_annotations_file_changes_the_config_digest(tmp_path):
    photo(tmp_path / "a.png")
    boxes_toml(tmp_path, [("a.png", "thing", (10, 10, 20, 20))])
    path = config(tmp_path, 'annotations = "boxes.toml"')
    before = load_config(path).digest
    boxes_toml(tmp_path, [("a.png", "thing", (11, 10, 20, 20))])
    assert load_config(path).digest != before


# --- COCO -----------------------------------------------------------------------------------------

def test_coco_objects_with_a_category_filter_and_crowd_skipped_and_counted(tmp_path):
    photo(tmp_path / "p1.png", 1)
    photo(tmp_path / "p2.png", 2)
    coco(tmp_path, [(1, "p1.png"), (2, "p2.png")],
         [(10, 1, 1, (60, 70, 31, 21), 0), (11, 1, 1, (140, 72, 31, 21), 0), (12, 2, 2, (90, 130, 51, 25), 0),
          (13, 2, 1, (30, 40, 41, 25), 0), (14, 2, 1, (0, 0, 100, 100), 1)])
    plan = make_plan(load_config(config(tmp_path, 'coco = "instances.json"')))
    assert [ref.id for ref in plan.targets] == ["p1/eye#10", "p1/eye#11", "p2/mouth#12", "p2/eye#13"]
    assert describe_targets(plan.config, plan.targets) == ["4 object(s) from instances.json: eye 3, mouth 1 (1 crowd annotation(s) skipped)"]
    assert load_coco(tmp_path / "instances.json").crowd == (("eye", 1),)
    path = config(tmp_path, '[targets.coco]\nfile = "instances.json"\ncategories = ["eye"]')
    assert [ref.id for ref in make_plan(load_config(path)).targets] == ["p1/eye#10", "p1/eye#11", "p2/eye#13"]
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0 and "3 object(s) from instances.json: eye 3 (1 crowd annotation(s) skipped)" in result.output
    run_experiment(load_config(path), tmp_path / "run", executor="serial")
    rows = list(csv.DictReader((tmp_path / "run" / "results.csv").open()))
    assert [r["object"] for r in rows] == ["p1/eye#10", "p1/eye#11", "p2/eye#13"] and all(r["hit"] == "1" for r in rows)


def test_a_split_of_your_own_objects_keeps_each_image_on_one_side(tmp_path):
    objects = []
    for n in range(6):
        photo(tmp_path / f"im{n}.png", n)
        objects += [(f"im{n}.png", "a", (10, 10, 30, 30)), (f"im{n}.png", "b", (100, 100, 30, 30))]
    boxes_toml(tmp_path, objects)
    path = config(tmp_path, 'annotations = "boxes.toml"', extra="[split]\ntune = 0.5\nseed = 3")
    loaded = load_config(path)
    tune, held = split_targets(loaded)
    images = [{ref.annotation.image.name for ref in side} for side in (tune, held)]
    assert len(tune) == len(held) == 6 and not images[0] & images[1]
    assert all(sources(ref, loaded) == {ref.annotation.image.name} for ref in tune + held)
    assert [r.id for r in split_targets(load_config(path))[0]] == [r.id for r in tune]  # the same split again


# --- every pose: boxes follow their objects --------------------------------------------------------

def _posed_marks(plan):
    """For every group: the distance from the centroid of the posed target's mark to the posed box's
    centre, and the posed box's size over the object's."""
    found, runner_ = [], CaseRunner(plan.config)
    for group in plan.groups:
        loaded = runner_.target(group.target, False)
        image, box, _, _ = transform_target(loaded.image, loaded.box, group.pose)
        x0, y0 = int(box.x) - 3, int(box.y) - 3  # inside the posed box: the canvas's reflected borders hold copies
        weights = np.zeros(image.shape)
        weights[max(0, y0): int(box.y + box.h) + 4, max(0, x0): int(box.x + box.w) + 4] = \
            image[max(0, y0): int(box.y + box.h) + 4, max(0, x0): int(box.x + box.w) + 4]
        ys, xs = np.indices(image.shape)
        x, y = (weights * xs).sum() / weights.sum(), (weights * ys).sum() / weights.sum()
        cx, cy = box.x + box.w / 2.0, box.y + box.h / 2.0
        found.append((group.id, math.hypot(x + 0.5 - cx, y + 0.5 - cy), group.pose,
                      (box.w / loaded.box.w, box.h / loaded.box.h)))
    return found


def test_posed_boxes_follow_a_marked_pixel_for_every_source(tmp_path):
    marks = [(60, 70, 31, 21), (150, 100, 41, 25)]
    for n, mark in enumerate(marks):  # one marked pixel per image: at its object's centre
        photo(tmp_path / f"dark{n}.png", marks=[mark])
    boxes_toml(tmp_path, [("dark0.png", "one", marks[0])])
    coco(tmp_path, [(1, "dark1.png")], [(5, 1, 1, marks[1], 0)])
    (tmp_path / "m.csv").write_text(f'template_image,template_box,target_image,target_box\n'
                                    f'dark0.png,"{",".join(map(str, marks[0]))}",dark1.png,"{",".join(map(str, marks[1]))}"\n')
    path = config(tmp_path, 'annotations = "boxes.toml"\ncoco = "instances.json"\nmanifest = "m.csv"',
                  "[transforms]\nscales = [0.8, 1.0, 1.5]\nrotations = [0, 30, 90, -45]")
    plan = make_plan(load_config(path))
    assert len(plan.groups) == 3 * 12  # the pair is posed too
    for group_id, distance, pose, ratio in _posed_marks(plan):
        assert distance <= 0.5, (group_id, distance)
        if pose.rotation == 0:
            assert ratio == pytest.approx((pose.scale, pose.scale), abs=0.01), group_id


# --- pairs under poses, and the hit rule -----------------------------------------------------------

def test_the_hit_rule_is_iou_only_for_pairs_at_their_own_pose(tmp_path):
    photo(tmp_path / "a.png")
    (tmp_path / "m.csv").write_text('template_image,template_box,target_image,target_box\na.png,"10,10,30,20",a.png,"10,10,30,20"\n')
    plain = load_config(config(tmp_path, 'manifest = "m.csv"'))
    posed = load_config(config(tmp_path, 'manifest = "m.csv"', "[transforms]\nscales = [0.8, 1.0]"))
    chosen = load_config(config(tmp_path, 'manifest = "m.csv"', "[transforms]\nscales = [0.8, 1.0]", "[evaluation]\nhit = \"iou\""))
    assert (hit_rule(plain, "pair"), hit_rule(posed, "pair"), hit_rule(chosen, "pair")) == ("iou", "center", "iou")
    assert (hit_rule(plain, "annotation"), hit_rule(chosen, "annotation")) == ("center", "iou")


def test_a_square_template_is_judged_by_the_box_it_stands_for():
    """The issue's case: a 45 x 45 fractal of a 45 x 32 kernel, centred on a 36 x 26 object (the
    object at scale 0.8). Its own footprint reaches IoU 936 / 2025 = 0.46 at best: never a hit.
    The box it stands for, 45 x 32 about the same centre, reaches 936 / 1440 = 0.65."""
    rng = np.random.default_rng(4)
    target = cv2.GaussianBlur(rng.integers(0, 256, (160, 200)).astype(np.uint8), (0, 0), 1.5)
    template = target[31:76, 46:91].copy()  # 45 x 45 at (46, 31): centre (68.5, 53.5)
    box = Box(50.5, 40.5, 36, 26)  # centre (68.5, 53.5)
    truth = Truth(box, (68.5, 53.5), (36, 26), "iou")
    own = measure_batch(target, [template], ["TM_CCOEFF_NORMED"], truth)[0]["TM_CCOEFF_NORMED"]
    stands = measure_batch(target, [template], ["TM_CCOEFF_NORMED"], Truth(box, (68.5, 53.5), (36, 26), "iou",
                                                                          footprint=(45, 32)))[0]["TM_CCOEFF_NORMED"]
    assert (own["x"], own["y"]) == (stands["x"], stands["y"]) == (46, 31)
    assert own["iou"] == pytest.approx(936 / 2025) and own["hit"] == 0 and own["rank"] == 0
    assert stands["iou"] == pytest.approx(936 / 1440) and stands["hit"] == 1 and stands["rank"] == 1
    assert own["center_error"] == stands["center_error"] == 0.0


def test_a_run_judges_every_variant_by_the_kernels_box(tmp_path):
    photo(tmp_path / "a.png", 3)
    (tmp_path / "m.csv").write_text('template_image,template_box,target_image,target_box\n'
                                    'a.png,"40,50,45,32",a.png,"40,50,45,32"\n')
    path = config(tmp_path, 'manifest = "m.csv"', variants=("none", "orbit-trap"), extra='[evaluation]\nhit = "iou"')
    run_experiment(load_config(path), tmp_path / "run", executor="serial")
    rows = {r["variant"]: r for r in csv.DictReader((tmp_path / "run" / "results.csv").open())}
    assert rows["none"]["hit"] == "1" and float(rows["none"]["iou"]) == 1.0
    trap = rows["orbit-trap"]  # a 45 x 45 template judged as the 45 x 32 box about its centre
    x, y = float(trap["x"]), float(trap["y"])
    assert float(trap["iou"]) == pytest.approx(iou((x, y + 6.5, 45, 32), (40, 50, 45, 32)), abs=1e-6)


# --- bad input: one line naming the file and the object, and no run folder ---------------------

BAD = [
    ("json", lambda t: (t / "instances.json").write_text('{"images": [{"id": 1,'), 'coco = "instances.json"',
     "{t}/instances.json: invalid JSON at line 1, column 22 (Expecting property name"),
    ("toml", lambda t: (t / "boxes.toml").write_text("[[object]\nimage = 1\n"), 'annotations = "boxes.toml"',
     "{t}/boxes.toml: invalid TOML"),
    ("missing image", lambda t: coco(t, [(1, "p1.png"), (2, "gone.png")], [(1, 1, 1, (60, 70, 31, 21), 0), (7, 2, 1, (1, 1, 5, 5), 0)]),
     'coco = "instances.json"', "{t}/instances.json: annotation id 7 (gone/eye#7): {t}/gone.png: no such file"),
    ("box outside", lambda t: coco(t, [(1, "p1.png")], [(3, 1, 1, (220, 70, 31, 21), 0)]), 'coco = "instances.json"',
     "{t}/instances.json: annotation id 3 (p1/eye#3): box 220,70,31,21 is not inside its image {t}/p1.png (240 x 200 px"),
    ("no area", lambda t: coco(t, [(1, "p1.png")], [(3, 1, 1, (20, 70, 0, 21), 0)]), 'coco = "instances.json"',
     "{t}/instances.json: annotation id 3 (p1/eye#3): bbox [20, 70, 0, 21] has no area"),
    ("unknown category", lambda t: coco(t, [(1, "p1.png")], [(3, 1, 1, (20, 70, 10, 21), 0)]),
     '[targets.coco]\nfile = "instances.json"\ncategories = ["eyes"]',
     "{t}/instances.json: categories: 'eyes' is not a category of this file (did you mean 'eye'? allowed: eye, mouth)"),
    ("unknown category id", lambda t: coco(t, [(1, "p1.png")], [(3, 1, 9, (20, 70, 10, 21), 0)]), 'coco = "instances.json"',
     "{t}/instances.json: annotation id 3: category_id 9 is not in 'categories'"),
    ("unlisted image id", lambda t: coco(t, [(1, "p1.png")], [(3, 4, 1, (20, 70, 10, 21), 0)]), 'coco = "instances.json"',
     "{t}/instances.json: annotation id 3: image_id 4 is not in 'images'"),
    ("unknown label", lambda t: boxes_toml(t, [("p1.png", "left-eye", (60, 70, 31, 21))]),
     '[targets.annotations]\nfile = "boxes.toml"\nlabels = ["left-eyes"]',
     "{t}/boxes.toml: labels: 'left-eyes' matches no label (did you mean 'left-eye'? labels in the file: left-eye)"),
    ("toml box outside", lambda t: boxes_toml(t, [("p1.png", "a", (60, 70, 31, 21)), ("p1.png", "b", (60, 190, 31, 21))]),
     'annotations = "boxes.toml"', "{t}/boxes.toml: object 2 (p1/b): box 60,190,31,21 is not inside its image"),
    ("toml box twice", lambda t: boxes_toml(t, [("p1.png", "a", (60, 70, 31, 21)), ("p1.png", "a", (60, 70, 31, 21))]),
     'annotations = "boxes.toml"', "{t}/boxes.toml: object 2 (p1/a#2): field 'box' = [60, 70, 31, 21] is object 1's box "
     "with the same label (allowed: each object once)"),
    ("toml numbered name taken", lambda t: boxes_toml(t, [("p1.png", "a#2", (6, 7, 31, 21)), ("p1.png", "a", (60, 70, 31, 21)),
                                                          ("p1.png", "a", (60, 90, 31, 21))]),
     'annotations = "boxes.toml"', "{t}/boxes.toml: object 3 (p1/a#2): the name 'p1/a#2' is taken by object 1"),
    ("coco json not an object", lambda t: (t / "instances.json").write_text("[1, 2]"), 'coco = "instances.json"',
     "{t}/instances.json: must be a JSON object"),
    ("toml nan box", lambda t: (t / "boxes.toml").write_text('[[object]]\nimage = "p1.png"\nlabel = "a"\nbox = [nan, 1, 5, 5]\n'),
     'annotations = "boxes.toml"', "{t}/boxes.toml: object 1 (p1/a): box nan,1,5,5 is not a box of finite numbers"),
    ("coco infinite bbox", lambda t: (t / "instances.json").write_text(
        '{"images": [{"id": 1, "file_name": "p1.png"}], "categories": [{"id": 1, "name": "eye"}], '
        '"annotations": [{"id": 3, "image_id": 1, "category_id": 1, "bbox": [1, 1, Infinity, 5]}]}'),
     'coco = "instances.json"', "{t}/instances.json: annotation id 3 (p1/eye#3): box 1,1,inf,5 is not a box of finite"),
    ("toml object not a table", lambda t: (t / "boxes.toml").write_text("object = [1, 2]\n"), 'annotations = "boxes.toml"',
     "{t}/boxes.toml: object 1: must be an [[object]] table, got 1"),
    ("toml image not a file", lambda t: boxes_toml(t, [(".", "a", (1, 1, 5, 5))]), 'annotations = "boxes.toml"',
     "{t}/boxes.toml: object 1: field 'image' must be a file name relative to the images folder, got '.'"),
    ("coco id not an id", lambda t: (t / "instances.json").write_text(
        '{"images": [{"id": 1, "file_name": "p1.png"}], "categories": [{"id": 1, "name": "eye"}], '
        '"annotations": [{"id": {"a": 1}, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]}]}'),
     'coco = "instances.json"', "{t}/instances.json: annotation id {{'a': 1}} is not an id (allowed: an integer or a string)"),
    ("coco image_id a list", lambda t: (t / "instances.json").write_text(
        '{"images": [{"id": 1, "file_name": "p1.png"}], "categories": [{"id": 1, "name": "eye"}], '
        '"annotations": [{"id": 3, "image_id": [1], "category_id": 1, "bbox": [1, 1, 5, 5]}]}'),
     'coco = "instances.json"', "{t}/instances.json: annotation id 3: image_id [1] is not an id"),
    ("coco size not the image's", lambda t: (t / "instances.json").write_text(
        '{"images": [{"id": 1, "file_name": "p1.png", "width": 200, "height": 240}], '
        '"categories": [{"id": 1, "name": "eye"}], '
        '"annotations": [{"id": 3, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5]}]}'),
     'coco = "instances.json"', "{t}/instances.json: annotation id 3 (p1/eye#3): the file gives its image {t}/p1.png as "
                                "200 x 240 px, the image is 240 x 200 px"),
    ("coco file a folder", lambda t: (t / "instances.json").mkdir(), 'coco = "instances.json"',
     "{t}/own.toml: field 'targets.coco.file' 'instances.json' is a folder (allowed: a JSON file)"),
    ("annotations not toml", lambda t: coco(t, [(1, "p1.png")], [(3, 1, 1, (20, 70, 10, 21), 0)]),
     'annotations = "instances.json"', "{t}/own.toml: field 'targets.annotations.file' 'instances.json' is not a .toml file"),
]


@pytest.mark.parametrize("make, targets, message", [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_bad_object_files_are_one_line_naming_the_file_and_object_and_leave_no_folder(tmp_path, make, targets, message):
    photo(tmp_path / "p1.png")
    make(tmp_path)
    path = config(tmp_path, targets)
    expected = "error: " + message.format(t=tmp_path)
    for args in (["validate", str(path)], ["run", str(path), "--out", str(tmp_path / "run"), "-e", "serial"]):
        result = runner.invoke(app, args)
        lines = result.output.strip().splitlines()
        assert result.exit_code == 1 and len(lines) == 1 and lines[0].startswith(expected), (lines, expected)
    assert not (tmp_path / "run").exists()


def test_one_object_in_two_sources_is_refused_and_a_near_name_is_suggested(tmp_path):
    photo(tmp_path / "p1.png")
    boxes_toml(tmp_path, [("p1.png", "eye#10", (10, 10, 30, 30))])
    coco(tmp_path, [(1, "p1.png")], [(10, 1, 1, (10, 10, 30, 30), 0)])
    with pytest.raises(ConfigError, match=r"field 'targets': the object 'p1/eye#10' is in both boxes.toml and instances.json"):
        make_plan(load_config(config(tmp_path, 'annotations = "boxes.toml"\ncoco = "instances.json"')))
    with pytest.raises(ConfigError, match="field 'targets.annotations' names unknown object 'astronaut/fase' "
                                          r"\(did you mean 'astronaut/face'\?"):
        load_config(config(tmp_path, 'annotations = ["astronaut/fase"]'))


def test_validate_and_the_report_say_what_counts_as_a_hit_and_that_the_oracle_is_no_bound_for_pairs(tmp_path):
    from fractal_match.report.build import make_report

    photo(tmp_path / "a.png", 3)
    (tmp_path / "m.csv").write_text('template_image,template_box,target_image,target_box\n'
                                    'a.png,"40,50,45,32",a.png,"40,50,45,32"\n')
    path = config(tmp_path, 'manifest = "m.csv"', variants=("none", "oracle"))
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0
    assert "  1 object(s) from m.csv\n" in result.output
    assert "  hit rule (auto): pairs: iou (IoU > 0.5 of the box the template stands for with the true box)\n" in result.output
    run_experiment(load_config(path), tmp_path / "run", executor="serial")
    page = (make_report(tmp_path / "run") / "index.html").read_text()
    assert "<th>oracle<br><small>not an upper bound here (pairs)</small></th>" in page
    assert "What counts as a hit: hit rule (auto): pairs: iou (IoU &gt; 0.5 of the box the template stands for with the true box)." in page
    # posed pairs: the centre rule, said so
    path = config(tmp_path, 'manifest = "m.csv"', "[transforms]\nscales = [1.0, 0.8]", variants=("none", "oracle"))
    assert "hit rule (auto): pairs: center (the detection's centre within 0.25 x the object's shorter side of the true centre)" in \
        runner.invoke(app, ["validate", str(path)]).output
    # annotations only: the oracle is an upper bound, and no note says otherwise
    boxes_toml(tmp_path, [("a.png", "thing", (40, 50, 45, 32))])
    path = config(tmp_path, 'annotations = "boxes.toml"', variants=("none", "oracle"))
    run_experiment(load_config(path), tmp_path / "run2", executor="serial")
    assert "not an upper bound" not in (make_report(tmp_path / "run2") / "index.html").read_text()


def test_a_run_made_under_the_old_measures_does_not_resume_under_the_new(tmp_path):
    """Before measures version 2, IoU was the template's footprint's and pairs ran at their own pose
    only: rows of both kinds must not meet in one results file."""
    import json as json_

    photo(tmp_path / "a.png", 3)
    (tmp_path / "m.csv").write_text('template_image,template_box,target_image,target_box\n'
                                    'a.png,"40,50,45,32",a.png,"40,50,45,32"\n')
    path = config(tmp_path, 'manifest = "m.csv"', "[transforms]\nscales = [1.0, 0.8]")
    result = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "run"), "-e", "serial", "--limit", "1"])
    assert result.exit_code == 0
    manifest = json_.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["measures"] == 3  # 3: flat maps are no detection
    del manifest["measures"]  # as a run of version 1 wrote it
    (tmp_path / "run" / "manifest.json").write_text(json_.dumps(manifest))
    rows_before = (tmp_path / "run" / "results.csv").read_bytes()
    result = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "run"), "-e", "serial", "--resume"])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1
    assert "its rows were measured under version 1 of the measures, this tool measures under version 3" in lines[0]
    assert (tmp_path / "run" / "results.csv").read_bytes() == rows_before


def test_a_label_is_chosen_by_its_own_name_even_when_it_looks_like_a_glob(tmp_path):
    photo(tmp_path / "p1.png")
    boxes_toml(tmp_path, [("p1.png", "eye[1]", (10, 10, 20, 20)), ("p1.png", "eye1", (50, 10, 20, 20)),
                          ("p1.png", "nose", (90, 10, 20, 20))])
    chosen = lambda labels: [ref.id for ref in make_plan(load_config(config(  # noqa: E731
        tmp_path, f'[targets.annotations]\nfile = "boxes.toml"\nlabels = {labels}'))).targets]
    assert chosen('["eye[1]"]') == ["p1/eye[1]", "p1/eye1"]  # itself, and the glob's match eye1
    assert chosen('["eye*"]') == ["p1/eye[1]", "p1/eye1"] and chosen('["nose"]') == ["p1/nose"]


def test_resuming_after_the_boxes_changed_says_the_boxes_may_have_changed(tmp_path):
    photo(tmp_path / "a.png")
    boxes_toml(tmp_path, [("a.png", "thing", (10, 10, 20, 20)), ("a.png", "other", (60, 60, 20, 20))])
    path = config(tmp_path, 'annotations = "boxes.toml"')
    assert runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "run"), "-e", "serial", "--limit", "1"]).exit_code == 0
    boxes_toml(tmp_path, [("a.png", "thing", (11, 10, 20, 20)), ("a.png", "other", (60, 60, 20, 20))])
    result = runner.invoke(app, ["run", str(path), "--out", str(tmp_path / "run"), "-e", "serial", "--resume"])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1
    assert "was made from a different config" in lines[0] and "(the boxes in boxes.toml are part of it: changed since?)" in lines[0]


def test_the_reports_detection_grids_frame_each_detection_as_the_run_judged_it(tmp_path):
    from fractal_match import load_image
    from fractal_match.report.build import make_report
    from fractal_match.report.figures import _HIT

    photo(tmp_path / "a.png", 5)
    boxes_toml(tmp_path, [("a.png", "thing", (60, 70, 41, 25))])
    path = config(tmp_path, 'annotations = "boxes.toml"', variants=("none", "orbit-trap"))
    run_experiment(load_config(path), tmp_path / "run", executor="serial")
    rows = list(csv.DictReader((tmp_path / "run" / "results.csv").open()))
    assert {r["variant"]: r["hit"] for r in rows}["none"] == "1"  # the crop finds itself
    figure = load_image(make_report(tmp_path / "run") / "detection_best.png", "color")
    assert int(np.all(figure == np.array(_HIT, np.uint8), axis=2).sum()) > 0  # its hit framed green
