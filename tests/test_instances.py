"""Every instance counted, no flat map a detection, and the kernel's size said and chosen.

- AP over a photo's objects equals pycocotools' COCOeval on the same detections and boxes (IoU
  rule: COCOeval's threshold set to the next double above ours, since it matches IoU >= t where
  the tool's rule is IoU > t; one area range holding every box; maxDets = k).
- recall@k never decreases with k, and at k = the photo's object count it is the count of
  per-object rows whose `rank` found their object.
- A flat response map is never a detection and never a hit, in rows, in `match` and in reports.
- `match` and `run` agree on one case under each kernel sizing rule.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from fractal_match.cli import app
from fractal_match.engine._methods import METHODS
from fractal_match.engine.matching import match_all
from fractal_match.engine.metrics import Truth, average_precision, instance_measures, recall_at
from fractal_match.engine.peaks import find_peaks
from fractal_match.geometry import Box, Pose, pose_warp, transform_target

runner = CliRunner()
import pycocotools.cocoeval  # noqa: E402,F401 - a test extra: the reference must be there, never skipped


def _truth(box, rule="iou", threshold=0.5, footprint=None) -> Truth:
    x, y, w, h = box
    return Truth(Box(x, y, w, h), (x + w / 2.0, y + h / 2.0), (float(w), float(h)), rule, 0.25, threshold, footprint)


def _cocoeval_ap(boxes, detections, k: int, threshold: float) -> float:
    """COCOeval's AP of one image and category: `detections` as (x, y, w, h, score), best first."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    truth = COCO()
    truth.dataset = {"images": [{"id": 1, "width": 4000, "height": 4000}], "categories": [{"id": 1, "name": "thing"}],
                     "annotations": [{"id": i + 1, "image_id": 1, "category_id": 1, "bbox": list(map(float, b)),
                                      "area": float(b[2] * b[3]), "iscrowd": 0} for i, b in enumerate(boxes)]}
    with contextlib.redirect_stdout(io.StringIO()):
        truth.createIndex()
        found = truth.loadRes([{"image_id": 1, "category_id": 1, "bbox": [float(v) for v in d[:4]], "score": float(d[4])}
                               for d in detections]) if detections else None
        if found is None:
            return 0.0
        evaluation = COCOeval(truth, found, "bbox")
        evaluation.params.iouThrs = np.array([np.nextafter(threshold, 1.0)])  # IoU >= t' is IoU > t
        evaluation.params.areaRng, evaluation.params.areaRngLbl = [[0.0, 1e12]], ["all"]
        evaluation.params.maxDets = [k]
        evaluation.evaluate()
        evaluation.accumulate()
    precision = evaluation.eval["precision"][0, :, 0, 0, 0]
    return float(precision[precision > -1].mean())


def _ours(boxes, peaks, shape, threshold=0.5):
    return instance_measures(peaks, shape, [_truth(b, "iou", threshold) for b in boxes])


CASES = {
    # detections (x, y, score) of a 20 x 20 template; objects (x, y, w, h)
    "ties": ([(10, 10, 20, 20), (60, 10, 20, 20), (110, 10, 20, 20)],
             [(200, 200, 0.9), (60, 10, 0.9), (11, 10, 0.7), (300, 300, 0.7), (110, 12, 0.7)]),
    "found twice": ([(10, 10, 20, 20), (60, 10, 20, 20)],
                    [(10, 10, 0.95), (12, 11, 0.9), (61, 9, 0.8), (150, 150, 0.2)]),
    "never found": ([(10, 10, 20, 20), (60, 10, 20, 20), (400, 400, 30, 25)],
                    [(10, 10, 0.9), (500, 10, 0.8), (60, 14, 0.5)]),
    "nothing found": ([(10, 10, 20, 20)], [(300, 300, 0.5), (200, 20, 0.4)]),
    "two objects one peak": ([(10, 10, 20, 20), (14, 10, 20, 20)], [(12, 10, 0.9), (90, 90, 0.3)]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_ap_equals_cocoeval_on_constructed_cases(name):
    boxes, peaks = CASES[name]
    for threshold in (0.5, 0.3, 0.75):
        ours = _ours(boxes, peaks, (20, 20), threshold)
        theirs = _cocoeval_ap(boxes, [(x, y, 20, 20, s) for x, y, s in peaks], len(peaks), threshold)
        assert ours["ap"] == pytest.approx(theirs, abs=1e-6), (name, threshold, ours, theirs)
    found = _ours(boxes, peaks, (20, 20))
    assert found["objects"] == len(boxes) and found["peaks"] == len(peaks)
    if name == "found twice":  # the second peak on the first object is a false positive
        assert found["matched"] == "1 3"
    if name == "never found":
        assert found["recall"] == pytest.approx(2 / 3)
    if name == "nothing found":
        assert found["ap"] == 0.0 and found["recall"] == 0.0


def test_ap_equals_cocoeval_on_random_cases():
    """300 random photos of 1-6 objects and 1-8 peaks of several template sizes, scores with ties."""
    rng = np.random.default_rng(7)
    for _ in range(300):
        boxes = [tuple(int(v) for v in (*rng.integers(0, 120, 2), *rng.integers(8, 40, 2))) for _ in range(rng.integers(1, 7))]
        h, w = (int(v) for v in rng.integers(8, 40, 2))
        count = int(rng.integers(1, 9))
        scores = np.sort(rng.choice([0.2, 0.5, 0.7, 0.9], count))[::-1]  # ranked best first, ties kept in order
        peaks = [(int(x), int(y), float(s)) for (x, y), s in zip(rng.integers(0, 130, (count, 2)), scores)]
        threshold = float(rng.choice([0.1, 0.3, 0.5]))
        ours = _ours(boxes, peaks, (h, w), threshold)
        theirs = _cocoeval_ap(boxes, [(x, y, w, h, s) for x, y, s in peaks], count, threshold)
        assert ours["ap"] == pytest.approx(theirs, abs=1e-6), (boxes, peaks, (h, w), threshold)


def test_recall_at_k_never_decreases_and_average_precision_bounds():
    ranks = [1, 3, 4, 9]
    values = [recall_at(ranks, 6, k) for k in range(0, 12)]
    assert values == sorted(values) and values[-1] == pytest.approx(4 / 6) and values[0] == 0.0
    assert average_precision([True, True, True], 3) == pytest.approx(1.0, abs=1e-12)  # a perfect ranking
    assert average_precision([False, False], 2) == 0.0
    assert np.isnan(average_precision([True], 0))


# --- a real run over a photo of six coins --------------------------------------------------------

SPOTS = [(20, 30), (90, 40), (200, 25), (60, 140), (180, 150), (250, 100)]


@pytest.fixture(scope="module")
def coins(tmp_path_factory):
    """A photo holding six copies of one coin on noise, as a COCO export with one category."""
    folder = tmp_path_factory.mktemp("coins")
    rng = np.random.default_rng(5)
    photo = rng.integers(60, 120, (220, 300)).astype(np.uint8)
    coin = np.zeros((24, 24), np.uint8)
    cv2.circle(coin, (12, 12), 9, 230, -1)
    cv2.circle(coin, (12, 12), 4, 40, -1)
    for x, y in SPOTS:
        photo[y:y + 24, x:x + 24] = coin
    cv2.imwrite(str(folder / "photo.png"), photo)
    cv2.imwrite(str(folder / "coin.png"), coin)
    coco = {"images": [{"id": 1, "file_name": "photo.png", "width": 300, "height": 220}],
            "categories": [{"id": 1, "name": "coin"}],
            "annotations": [{"id": i + 1, "image_id": 1, "category_id": 1, "bbox": [x, y, 24, 24], "area": 576,
                             "iscrowd": 0} for i, (x, y) in enumerate(SPOTS)]}
    (folder / "instances.json").write_text(json.dumps(coco))
    return folder


def _config(folder, name, instances="object", hit="iou", top_k=6, kernel='"coin.png"', size='"file"'):
    path = folder / f"{name}.toml"
    path.write_text(f"""name = "{name}"
kernels = [{kernel}]
[targets]
coco = "instances.json"
[transforms]
scales = [1.0, 0.8]
rotations = [0, 20]
[[variants]]
family = "none"
[[variants]]
family = "orbit-trap"
[matching]
kernel_size = {size}
[evaluation]
instances = "{instances}"
hit = "{hit}"
iou_threshold = 0.3
top_k = {top_k}
""")
    return path


def _run(folder, config) -> list[dict]:
    out = folder / f"run-{config.stem}"
    result = runner.invoke(app, ["run", str(config), "--out", str(out), "-e", "serial"])
    assert result.exit_code == 0, result.output
    return list(csv.DictReader((out / "results.csv").open())), out


def test_a_real_run_gives_the_ap_cocoeval_gives_its_detections(coins):
    rows, out = _run(coins, _config(coins, "image", "image"))
    assert {r["objects"] for r in rows} == {"6"} and len(rows) == 6 * 4 * 2 * 6
    kernel = cv2.imread(str(coins / "coin.png"), cv2.IMREAD_GRAYSCALE)
    photo = cv2.imread(str(coins / "photo.png"), cv2.IMREAD_GRAYSCALE)
    checked = 0
    for row in rows:
        if row["variant"] != "none" or row["status"] != "ok" or not row["object"].endswith("#1"):
            continue
        pose = Pose(float(row["scale"]), float(row["rotation"]))
        target, box, _, warp = transform_target(photo, Box(*SPOTS[0], 24, 24), pose)
        boxes = [tuple(warp.box(Box(x, y, 24, 24))) for x, y in SPOTS]
        template = (kernel / 255.0).astype(np.float32) * 255.0  # the run's template on the target's scale
        responses = match_all(target, np.rint(template).astype(np.uint8), row["method"])
        peaks = find_peaks(responses[row["method"]], row["method"], kernel.shape, k=6, max_overlap=0.3,
                           degenerate=responses.degenerate.get(row["method"]))
        theirs = _cocoeval_ap(boxes, [(p.x, p.y, 24, 24, -p.score if "SQDIFF" in row["method"] else p.score)
                                      for p in peaks], 6, 0.3)
        assert float(row["ap"]) == pytest.approx(theirs, abs=1e-6), row
        checked += 1
    assert checked == 4 * 6
    page = (out / "report").exists() or runner.invoke(app, ["report", str(out)]).exit_code == 0
    assert page
    text = (out / "report" / "index.html").read_text()
    assert "recall@6" in text and "AP" in text and (out / "report" / "detections.csv").exists()
    table = list(csv.DictReader((out / "report" / "detections.csv").open()))
    assert all(r["ap"] not in ("", "nan") for r in table)


def test_recall_at_the_object_count_is_the_count_of_per_object_ranks(coins):
    """With one kernel file at its file size, every coin of an unturned pose sees the same
    template and target (a turn pivots about each object's centre, so its canvas differs): the share of coins whose own row has a rank (found among the top 6) is the image
    mode's recall@6 (the coins are far apart: no peak can find two)."""
    per_object, _ = _run(coins, _config(coins, "object-mode", "object", hit="center"))
    per_image, _ = _run(coins, _config(coins, "image-mode", "image", hit="center"))
    compared = 0
    for method in METHODS:
        for variant in ("none", "orbit-trap"):
            for scale, rotation in (("1", "0"), ("0.8", "0")):  # a turn is about each object's own centre
                cell = [r for r in per_object if (r["method"], r["variant"], r["scale"], r["rotation"]) ==
                        (method, variant, scale, rotation)]
                found = sum(int(r["rank"] or 0) > 0 for r in cell)
                recalls = {r["recall"] for r in per_image if (r["method"], r["variant"], r["scale"], r["rotation"]) ==
                           (method, variant, scale, rotation)}
                assert len(cell) == 6 and len(recalls) == 1, (method, variant, recalls)
                assert float(recalls.pop()) == pytest.approx(found / 6), (method, variant, scale, rotation)
                compared += 1
    assert compared == 24
    # matched ranks give recall at every k <= top_k, never decreasing
    for row in per_image:
        if row["status"] == "ok":
            ranks = [int(v) for v in row["matched"].split()]
            values = [recall_at(ranks, 6, k) for k in range(1, 7)]
            assert values == sorted(values) and values[-1] == pytest.approx(float(row["recall"]))


def test_per_object_report_says_objects_share_a_photo(coins):
    _, out = _run(coins, _config(coins, "shared", "object", hit="center"))
    assert runner.invoke(app, ["report", str(out)]).exit_code == 0
    text = (out / "report" / "index.html").read_text()
    assert "6 of 6 objects share their photo" in text


# --- flat maps --------------------------------------------------------------------------------------

def test_a_constant_target_gives_no_detection_in_match(tmp_path):
    cv2.imwrite(str(tmp_path / "grey.png"), np.full((90, 120), 37, np.uint8))
    rng = np.random.default_rng(1)
    cv2.imwrite(str(tmp_path / "kernel.png"), rng.integers(0, 256, (20, 18)).astype(np.uint8))
    methods = [a for m in METHODS[:5] for a in ("-m", m)]  # TM_CCOEFF_NORMED is undefined there (no contrast): refused
    result = runner.invoke(app, ["match", str(tmp_path / "grey.png"), str(tmp_path / "kernel.png"), "--box", "0,0,18,20",
                                 *methods, "--out", str(tmp_path / "out")], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((tmp_path / "out" / "matches.csv").open()))
    # one row per method, each flat; the box sits where a flat map's first position would have "hit" it
    assert len(rows) == 5 and all(r["status"].startswith("flat: ") and r["hit"] == "0" and r["x"] == "" for r in rows)
    assert "hits: 0 of 5" in result.output and "flat: 5 map(s)" in result.output


def test_the_tutorial_eye_with_the_orbit_trap_is_flat_and_no_hit(tmp_path):
    """The tutorial's command: the orbit trap of the eye saturates TM_SQDIFF_NORMED at 1 everywhere."""
    import os
    import runpy

    from doc_files import write_page_files

    script = write_page_files("tutorial.md", tmp_path)["cut_kernel.py"]  # the page's file, as written there
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        runpy.run_path(str(script), run_name="__main__")
    finally:
        os.chdir(cwd)
    result = runner.invoke(app, ["match", str(tmp_path / "photo.png"), str(tmp_path / "eye.png"), "--family", "orbit-trap",
                                 "--box", "295,105,50,60", "--out", str(tmp_path / "m")], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((tmp_path / "m" / "matches.csv").open()))
    flat = [r for r in rows if r["status"].startswith("flat: ")]
    assert any(r["variant"] == "orbit-trap" and r["method"] == "TM_SQDIFF_NORMED" for r in flat)
    assert all(r["hit"] == "0" and r["x"] == "" for r in flat)
    assert "no (flat)" in result.output


def test_flat_rows_in_a_run_are_misses_and_counted_by_the_report(tmp_path):
    cv2.imwrite(str(tmp_path / "grey.png"), np.full((90, 120), 37, np.uint8))
    rng = np.random.default_rng(1)
    cv2.imwrite(str(tmp_path / "kernel.png"), rng.integers(0, 256, (20, 18)).astype(np.uint8))
    (tmp_path / "boxes.toml").write_text('[[object]]\nimage = "grey.png"\nlabel = "spot"\nbox = [0, 0, 18, 20]\n')
    (tmp_path / "c.toml").write_text('name = "flat"\nkernels = ["kernel.png"]\n[targets]\nannotations = "boxes.toml"\n'
                                     '[[variants]]\nfamily = "none"\n')
    out = tmp_path / "run"
    assert runner.invoke(app, ["run", str(tmp_path / "c.toml"), "--out", str(out), "-e", "serial"]).exit_code == 0
    rows = list(csv.DictReader((out / "results.csv").open()))
    flat = [r for r in rows if r["status"].startswith("flat: ")]
    # the object sits in the top-left corner, where a flat map's first position would have "hit" it
    assert len(flat) == 5 and all(r["hit"] == "0" and r["x"] == "" for r in flat)
    assert runner.invoke(app, ["report", str(out)]).exit_code == 0
    table = {r["method"]: r for r in csv.DictReader((out / "report" / "detections.csv").open())}
    assert table["TM_SQDIFF"]["flat"] == "1" and table["TM_CCOEFF_NORMED"]["undefined"] == "1"
    assert "flat: rows whose map has no spread" in (out / "report" / "index.html").read_text()


# --- kernel sizing -----------------------------------------------------------------------------------

@pytest.mark.parametrize("rule, option", [("object", "object"), ("file", "file"), ("40", "40")])
def test_match_and_run_agree_under_each_sizing_rule(coins, rule, option):
    """One case (coin 4 at scale 1, rotation 0, a kernel file of another size than the coin)
    through `run` and through `match --box ... --size`: the same position and score per method."""
    kernel = cv2.resize(cv2.imread(str(coins / "coin.png"), cv2.IMREAD_GRAYSCALE), (31, 31), interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(coins / "big-coin.png"), kernel)
    size = rule if rule.isdigit() else f'"{rule}"'
    config = coins / f"size-{rule}.toml"
    config.write_text(f'name = "size-{rule}"\nkernels = ["big-coin.png"]\n[targets]\ncoco = "instances.json"\n'
                      f'[matching]\nkernel_size = {size}\n[[variants]]\nfamily = "none"\n')
    rows, _ = _run(coins, config)
    x, y = SPOTS[3]
    result = runner.invoke(app, ["match", str(coins / "photo.png"), str(coins / "big-coin.png"), "--box", f"{x},{y},24,24",
                                 "--size", option, "--out", str(coins / f"match-{rule}")])
    assert result.exit_code == 0, result.output
    best = {r["method"]: r for r in csv.DictReader((coins / f"match-{rule}" / "matches.csv").open()) if r["rank"] == "1"}
    side = {"object": 24, "file": 31, "40": 40}[rule]
    for row in (r for r in rows if r["object"] == "photo/coin#4"):
        assert (int(best[row["method"]]["w"]), int(best[row["method"]]["h"])) == (side, side)
        assert (best[row["method"]]["x"], best[row["method"]]["y"]) == (row["x"], row["y"]), row["method"]
        assert float(best[row["method"]]["score"]) == pytest.approx(float(row["score"]), rel=1e-6, abs=1e-6)


def test_kernel_size_and_instances_are_checked_and_said(coins):
    bad = _config(coins, "bad-size", size='"objekt"')
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 1 and "did you mean 'object'?" in result.output and len(result.output.strip().splitlines()) == 1
    bad = _config(coins, "bad-instances", instances="images")
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 1 and "did you mean 'image'?" in result.output
    good = runner.invoke(app, ["validate", str(_config(coins, "said", "image", size="40"))])
    assert "kernel size (40)" in good.output and "instances (image)" in good.output
    result = runner.invoke(app, ["match", str(coins / "photo.png"), str(coins / "coin.png"), "--size", "object"])
    assert result.exit_code == 1 and "--size object needs --box" in result.output


def test_default_evaluation_keeps_the_committed_digests():
    """Configs that name none of the new fields (instances, kernel_size, per_image, rule, ...) hash
    as they did when the committed searches recorded them, before those fields existed."""
    from pathlib import Path

    from fractal_match.experiments.config import load_config

    results = Path(__file__).resolve().parent.parent / "results"
    for name, recorded in (("search", results / "search" / "tune" / "search.json"),
                           ("search-dims", results / "search-dims" / "tune" / "search.json")):
        assert load_config(name).digest == json.loads(recorded.read_text())["config_hash"]


def test_rows_of_a_multi_object_photo_pose_every_instance():
    """The posed boxes of the other objects follow the photo: a warp of the whole image."""
    warp = pose_warp((300, 220), (32, 42), Pose(0.8, 20))
    boxes = [warp.box(Box(x, y, 24, 24)) for x, y in SPOTS]
    assert all(0 <= b.x and 0 <= b.y and b.x + b.w <= warp.size[0] + 1e-9 and b.y + b.h <= warp.size[1] + 1e-9 for b in boxes)


def test_a_toml_file_may_hold_several_objects_of_one_label(coins, tmp_path):
    """Repeated labels in one image are instances, named label#1, #2, ... in file order; with
    instances = "image" each is judged against all of them."""
    from fractal_match.experiments.config import load_config
    from fractal_match.experiments.plan import make_plan

    lines = ['images = "{}"'.format(coins)]
    for x, y in SPOTS:
        lines += ["[[object]]", 'image = "photo.png"', 'label = "coin"', f"box = [{x}, {y}, 24, 24]"]
    (tmp_path / "boxes.toml").write_text("\n".join(lines) + "\n")
    (tmp_path / "c.toml").write_text('name = "toml-coins"\nkernels = ["crop"]\n[targets]\nannotations = "boxes.toml"\n'
                                     '[[variants]]\nfamily = "none"\n[evaluation]\ninstances = "image"\ntop_k = 6\n')
    plan = make_plan(load_config(tmp_path / "c.toml"))
    assert [ref.id for ref in plan.targets] == [f"photo/coin#{i}" for i in range(1, 7)]
    assert all(len(ref.instances) == 6 for ref in plan.targets)
    out = tmp_path / "run"
    assert runner.invoke(app, ["run", str(tmp_path / "c.toml"), "--out", str(out), "-e", "serial"]).exit_code == 0
    rows = list(csv.DictReader((out / "results.csv").open()))
    best = [r for r in rows if r["method"] == "TM_CCOEFF_NORMED"]
    assert len(best) == 6 and all(r["recall"] == "1" and float(r["ap"]) == pytest.approx(1.0) for r in best)


def test_units_and_per_image(coins, tmp_path):
    """An annotation file's [units] groups images into one independent unit (splits keep them
    together, the manifest records them for the report's photo-level tests); per_image runs the
    first N objects of each image, while every object still counts as an instance."""
    from fractal_match.experiments.config import load_config
    from fractal_match.experiments.plan import make_plan, photo_units

    cv2.imwrite(str(tmp_path / "photo.png"), cv2.imread(str(coins / "photo.png")))
    cv2.imwrite(str(tmp_path / "frame2.png"), cv2.imread(str(coins / "photo.png")))
    lines = []
    for image in ("photo.png", "frame2.png"):
        for x, y in SPOTS:
            lines += ["[[object]]", f'image = "{image}"', 'label = "coin"', f"box = [{x}, {y}, 24, 24]"]
    lines += ["[units]", '"photo.png" = "clip"', '"frame2.png" = "clip"']
    (tmp_path / "boxes.toml").write_text("\n".join(lines) + "\n")
    (tmp_path / "c.toml").write_text('name = "units"\nkernels = ["crop"]\n[targets]\nannotations = "boxes.toml"\nper_image = 2\n'
                                     '[[variants]]\nfamily = "none"\n[evaluation]\ninstances = "image"\ntop_k = 6\n')
    plan = make_plan(load_config(tmp_path / "c.toml"))
    assert [ref.id for ref in plan.targets] == ["photo/coin#1", "photo/coin#2", "frame2/coin#1", "frame2/coin#2"]
    assert all(len(ref.instances) == 6 for ref in plan.targets)
    assert photo_units(plan.targets) == {"photo.png": "clip", "frame2.png": "clip"}
    out = tmp_path / "run"
    assert runner.invoke(app, ["run", str(tmp_path / "c.toml"), "--out", str(out), "-e", "serial"]).exit_code == 0
    assert json.loads((out / "manifest.json").read_text())["units"] == {"photo.png": "clip", "frame2.png": "clip"}
    assert runner.invoke(app, ["report", str(out)]).exit_code == 0
    table = list(csv.DictReader((out / "report" / "detections.csv").open()))
    assert {r["photos"] for r in table} == {"1"}  # two images, one unit
    (tmp_path / "bad.toml").write_text("\n".join(lines[:4] + ["[units]", '"nope.png" = "clip"']) + "\n")
    from fractal_match.datasets import load_annotations
    from fractal_match._errors import ConfigError

    with pytest.raises(ConfigError, match="field 'units' names 'nope.png', which no"):
        load_annotations(tmp_path / "bad.toml")
