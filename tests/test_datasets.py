import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from fractal_match import ConfigError, save_image
from fractal_match.experiments.config import load_config
from fractal_match.datasets import load_manifest, load_pairs, read_box
from fractal_match.geometry import Pose, transform_target
from fractal_match.engine.pose_search import search
from fractal_match.experiments.runs import run_experiment
from fractal_match.experiments.scenes import synthetic_scene


def make_pairs(folder, count=3, second_box_name="frm1"):
    """BBS-layout pairs: frame 1 holds the object at one place, frame 2 at another."""
    rng = np.random.default_rng(5)
    folder.mkdir(parents=True, exist_ok=True)
    truths = []
    for n in range(1, count + 1):
        scene = cv2.GaussianBlur(rng.integers(0, 256, (120, 160)).astype(np.uint8), (0, 0), 2)
        thing = rng.integers(0, 256, (20, 30)).astype(np.uint8)
        a, b = (int(rng.integers(5, 60)), int(rng.integers(5, 80))), (int(rng.integers(5, 60)), int(rng.integers(5, 80)))
        first, second = scene.copy(), cv2.flip(scene, 1)
        first[a[0]:a[0] + 20, a[1]:a[1] + 30] = thing
        second[b[0]:b[0] + 20, b[1]:b[1] + 30] = thing
        stem1, stem2 = f"pair{n:04d}_frm1_Seq{n}_0001", f"pair{n:04d}_frm2_Seq{n}_0010"
        save_image(folder / f"{stem1}.png", first)
        save_image(folder / f"{stem2}.png", second)
        (folder / f"{stem1}.txt").write_text(f"{a[1]},{a[0]},30,20\n")
        box_file = f"pair{n:04d}_{second_box_name}_Seq{n}_0010.txt"
        (folder / box_file).write_text(f"{b[1]}\t{b[0]}\t30\t20\n")
        truths.append((b[1], b[0], 30, 20))
    return truths


@pytest.mark.parametrize("second_box_name", ["frm1", "frm2"])
def test_bbs_layout_pairs_are_read_with_their_boxes(tmp_path, second_box_name):
    truths = make_pairs(tmp_path / "pairs", second_box_name=second_box_name)
    pairs = load_pairs(tmp_path / "pairs")
    assert [p.name for p in pairs] == ["pair0001", "pair0002", "pair0003"]
    assert [tuple(p.target_box) for p in pairs] == [tuple(float(v) for v in t) for t in truths]


def test_pairs_run_finds_every_object_with_the_iou_criterion(tmp_path):
    make_pairs(tmp_path / "pairs")
    rows = [("template_image", "template_box", "target_image", "target_box")]
    for pair in load_pairs(tmp_path / "pairs"):
        rows.append((f"pairs/{pair.template_image.name}", ",".join(f"{v:g}" for v in pair.template_box),
                     f"pairs/{pair.target_image.name}", " ".join(f"{v:g}" for v in pair.target_box)))
    with open(tmp_path / "manifest.csv", "w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    (tmp_path / "pairs.toml").write_text(
        'name = "pairs"\nkernels = ["crop"]\n[targets]\npairs = "pairs"\nmanifest = "manifest.csv"\n'
        '[[variants]]\nfamily = "none"\n[matching]\nmethods = ["TM_CCOEFF_NORMED", "TM_SQDIFF"]\n')
    config = load_config(tmp_path / "pairs.toml")
    run_experiment(config, tmp_path / "run", executor="serial")
    results = list(csv.DictReader((tmp_path / "run" / "results.csv").open()))
    assert len(results) == 6 * 2  # 3 pairs from the folder + 3 from the manifest, 2 methods
    assert all(r["hit"] == "1" and float(r["iou"]) == 1.0 and r["scale"] == "1" for r in results)


def test_bad_pair_files_are_named(tmp_path):
    make_pairs(tmp_path / "p")
    (tmp_path / "p" / "pair0002_frm1_Seq2_0001.txt").write_text("1,2,3\n")
    with pytest.raises(ConfigError, match="pair0002_frm1_Seq2_0001.txt: box must be one line"):
        load_pairs(tmp_path / "p")
    (tmp_path / "m.csv").write_text("template_image,template_box\na.png,1 2 3 4\n")
    with pytest.raises(ConfigError, match="line 2: missing column"):
        load_manifest(tmp_path / "m.csv")
    (tmp_path / "b.txt").write_text("")
    with pytest.raises(ConfigError, match="b.txt: box must be one line"):
        read_box(tmp_path / "b.txt")


def test_synthetic_scenes_are_deterministic_and_hold_their_object():
    first = synthetic_scene(3, 7, ("grass", "brick"), ("bank:ring",), 48, 256)
    again = synthetic_scene(3, 7, ("grass", "brick"), ("bank:ring",), 48, 256)
    other = synthetic_scene(4, 7, ("grass", "brick"), ("bank:ring",), 48, 256)
    assert np.array_equal(first[0], again[0]) and first[1] == again[1]
    assert not np.array_equal(first[0], other[0])
    scene, box, picture = first
    x, y, w, h = (int(v) for v in box)
    assert np.array_equal(scene[y:y + h, x:x + w], picture)


def test_search_recovers_the_pose_of_a_turned_and_scaled_object():
    rng = np.random.default_rng(0)
    target = cv2.GaussianBlur(rng.integers(0, 256, (200, 240)).astype(np.uint8), (0, 0), 1.5)
    template = target[60:100, 80:130].copy()
    turned, box, center, _ = transform_target(target, (80, 60, 50, 40), Pose(1.2, 30))
    found = search(turned, template, rotations=[0, 15, 30, 45], scales=[1.0, 1.2], methods=["TM_CCOEFF_NORMED"])
    best = found.results["TM_CCOEFF_NORMED"]
    assert found.templates == 8 and (best.scale, best.rotation) == (1.2, 30)
    h, w = best.template_shape[:2]
    assert abs(best.match.x + w / 2 - center[0]) <= 1 and abs(best.match.y + h / 2 - center[1]) <= 1


# --- validate and run read what the run will read: images that decode, boxes inside them --------

def _manifest(tmp_path, rows) -> Path:
    """A pairs config over a 512 x 300 photo-like image, with manifest `rows` after a good one."""
    rng = np.random.default_rng(2)
    save_image(tmp_path / "photo.png", cv2.GaussianBlur(rng.integers(0, 256, (300, 512)).astype(np.uint8), (0, 0), 2))
    lines = ["template_image,template_box,target_image,target_box", 'photo.png,"10,20,45,32",photo.png,"10,20,45,32"']
    (tmp_path / "manifest.csv").write_text("\n".join(lines + rows) + "\n")
    path = tmp_path / "pairs.toml"
    path.write_text('name = "pairs"\nkernels = ["crop"]\n[targets]\nmanifest = "manifest.csv"\n'
                    '[[variants]]\nfamily = "none"\n')
    return path


@pytest.mark.parametrize("row, message", [
    ('photo.png,"10,20,45,32",photo.png,"600,174,45,32"',
     "line 3: target_box 600,174,45,32 is not inside its image {photo} (512 x 300 px; allowed: 0 <= x, 0 <= y, "
     "x + w <= 512, y + h <= 300)"),
    ('photo.png,"480,20,45,32",photo.png,"10,20,45,32"', "line 3: template_box 480,20,45,32 is not inside its image"),
    ('photo.png,"-1,20,45,32",photo.png,"10,20,45,32"', "line 3: template_box -1,20,45,32 is not inside its image"),
    ('photo.png,"10,20,45,32",photo.png,"10,280,45,32"', "line 3: target_box 10,280,45,32 is not inside its image"),
    ('odd.png,"1.5,1,7.5,5",photo.png,"10,20,45,32"',  # inside as given, not as cropped (2 + 8 > 9 px)
     "line 3: template_box 1.5,1,7.5,5 is not inside its image {tmp}/odd.png (9 x 9 px"),
    ('photo.png,"10,20,45,32",photo.png,"10,20,0,32"',
     "line 3: target_box 10,20,0,32 has no area (allowed: a width and height of at least 1 px)"),
    ('photo.png,"10,20,45,32",nowhere.png,"10,20,45,32"', "line 3: {tmp}/nowhere.png: no such file"),
    ('garbage.png,"10,20,45,32",photo.png,"10,20,45,32"', "line 3: {tmp}/garbage.png: not an image"),
])
def test_a_box_outside_its_image_or_a_missing_image_is_refused_before_any_folder(tmp_path, row, message):
    from typer.testing import CliRunner

    from fractal_match.cli import app

    (tmp_path / "garbage.png").write_bytes(b"this is no png")
    save_image(tmp_path / "odd.png", np.full((9, 9), 128, np.uint8))
    path = _manifest(tmp_path, [row])
    expected = f"error: {tmp_path / 'manifest.csv'}: " + message.format(photo=tmp_path / "photo.png", tmp=tmp_path)
    runner = CliRunner()
    for args in (["validate", str(path)], ["run", str(path), "--out", str(tmp_path / "run"), "-e", "serial"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 1, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(expected), (lines, expected)
    assert not (tmp_path / "run").exists()


def test_a_float_image_beyond_255_is_refused_before_any_folder(tmp_path):
    from typer.testing import CliRunner

    from fractal_match.cli import app

    path = _manifest(tmp_path, [])
    cv2.imwrite(str(tmp_path / "photo.tiff"), np.full((300, 512), 4000.0, np.float32))
    text = (tmp_path / "manifest.csv").read_text().replace("photo.png", "photo.tiff")
    (tmp_path / "manifest.csv").write_text(text)
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "run"), "-e", "serial"])
    assert result.exit_code == 1 and "a float image reaching 4000 has no known value scale" in result.output
    assert not (tmp_path / "run").exists()


def test_a_bbs_box_outside_its_frame_names_its_box_file(tmp_path):
    make_pairs(tmp_path / "p")
    (tmp_path / "p" / "pair0002_frm1_Seq2_0010.txt").write_text("150,10,30,20\n")  # frame 2 is 160 px wide
    (tmp_path / "c.toml").write_text('name = "c"\n[targets]\npairs = "p"\n[[variants]]\nfamily = "none"\n')
    with pytest.raises(ConfigError, match=r"pair0002_frm1_Seq2_0010\.txt: box 150,10,30,20 is not inside its image .*"
                                          r"pair0002_frm2_Seq2_0010\.png \(160 x 120 px"):
        run_experiment(load_config(tmp_path / "c.toml"), tmp_path / "run", executor="serial")
    assert not (tmp_path / "run").exists()


def test_every_shipped_annotation_lies_inside_its_image_and_a_wrong_one_is_named():
    from fractal_match.datasets import Annotation, ImageSizes, check_annotation, load_annotations
    from fractal_match.geometry import Box

    sizes = ImageSizes()
    annotations = load_annotations()
    for annotation in annotations:
        check_annotation(annotation, sizes)
    first = annotations[0]
    wide = Annotation(first.image, first.label, Box(first.box.x, first.box.y, 5000, first.box.h), first.where)
    with pytest.raises(ConfigError, match=rf"annotations\.toml: object 1 \({first.name}\): box .* is not inside its image"):
        check_annotation(wide, sizes)
