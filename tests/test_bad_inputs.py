"""The catalogue of bad inputs: each gives one clear line on stderr naming the file, field or value
and what is allowed, a non-zero exit code, no traceback, and no half-written output. Inputs that
are unusual but supported (16-bit, float, RGBA) are handled correctly instead."""

import csv
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from fractal_match import save_image
from fractal_match.cli import app

runner = CliRunner()
GOOD_CONFIG = """
name = "bad"
kernels = ["crop"]
[targets]
annotations = ["coins/coin-3"]
[transforms]
scales = [1.0]
rotations = [0]
[[variants]]
family = "none"
[matching]
methods = ["TM_SQDIFF"]
"""


@pytest.fixture()
def d(tmp_path):
    return make_inputs(tmp_path)


def make_inputs(tmp_path):
    """Every bad (and unusual) input file the catalogue uses, made in `tmp_path`."""
    rng = np.random.default_rng(0)
    target = rng.integers(0, 256, (60, 80)).astype(np.uint8)
    save_image(tmp_path / "target.png", target)
    save_image(tmp_path / "kernel.png", target[20:36, 30:50])
    save_image(tmp_path / "kernel_rgb.png", np.dstack([target[20:36, 30:50]] * 3))
    save_image(tmp_path / "tiny.png", np.array([[7]], np.uint8))
    save_image(tmp_path / "flat.png", np.full((10, 10), 99, np.uint8))
    save_image(tmp_path / "black.png", np.zeros((60, 80), np.uint8))
    (tmp_path / "text.png").write_text("not really a png")
    (tmp_path / "empty.png").write_bytes(b"")
    png = cv2.imencode(".png", target)[1].tobytes()
    (tmp_path / "truncated.png").write_bytes(png[: len(png) // 2])
    jpg = cv2.imencode(".jpg", target)[1].tobytes()
    (tmp_path / "truncated.jpg").write_bytes(jpg[: len(jpg) // 2])
    cv2.imwrite(str(tmp_path / "nan.tiff"), np.where(target > 200, np.nan, target / 255.0).astype(np.float32))
    (tmp_path / "folder").mkdir()
    (tmp_path / "file.txt").write_text("a file")
    (tmp_path / "good.toml").write_text(GOOD_CONFIG)
    (tmp_path / "invalid.toml").write_text("name = \"x\"\n[targets\n")
    (tmp_path / "wrongtype.toml").write_text(GOOD_CONFIG.replace('name = "bad"', "name = 3"))
    (tmp_path / "unknownkey.toml").write_text(GOOD_CONFIG.replace('name = "bad"', 'name = "bad"\nworkers = 2'))
    (tmp_path / "missingkey.toml").write_text(GOOD_CONFIG.replace('[[variants]]\nfamily = "none"\n', ""))
    (tmp_path / "notransforms.toml").write_text(GOOD_CONFIG.replace("rotations = [0]", "rotations = []"))
    (tmp_path / "other.toml").write_text(GOOD_CONFIG.replace("scales = [1.0]", "scales = [0.9]"))
    return tmp_path


# (name, arguments, text the one error line must contain)
CATALOGUE = [
    ("missing file", ["match", "{d}/nope.png", "{d}/kernel.png"], "nope.png: no such file"),
    ("directory as image", ["match", "{d}/folder", "{d}/kernel.png"], "folder: is a directory"),
    ("text file named .png", ["match", "{d}/text.png", "{d}/kernel.png"], "text.png: not an image"),
    ("truncated PNG", ["match", "{d}/truncated.png", "{d}/kernel.png"], "truncated.png: PNG data is truncated"),
    ("truncated JPEG", ["match", "{d}/truncated.jpg", "{d}/kernel.png"], "truncated.jpg: JPEG data is truncated"),
    ("zero-byte file", ["match", "{d}/empty.png", "{d}/kernel.png"], "empty.png: file is empty"),
    ("1x1 target", ["match", "{d}/tiny.png", "{d}/kernel.png"], "larger than the target (1x1 px)"),
    ("1x1 kernel", ["match", "{d}/target.png", "{d}/tiny.png"], "zero variance, so TM_CCOEFF_NORMED is undefined"),
    ("template larger than target", ["match", "{d}/kernel.png", "{d}/target.png"], "larger than the target"),
    ("gray target, colour asked", ["match", "{d}/target.png", "{d}/kernel_rgb.png", "--color"], "target.png: is a gray image, so --color"),
    ("constant kernel", ["match", "{d}/target.png", "{d}/flat.png"], "template has zero variance, so TM_CCOEFF_NORMED is undefined"),
    ("all-black target", ["match", "{d}/black.png", "{d}/kernel.png"], "every position is degenerate for TM_SQDIFF_NORMED"),
    ("NaN in a float image", ["match", "{d}/nan.tiff", "{d}/kernel.png"], "nan.tiff: contains NaN or Inf"),
    ("absurd size", ["fractalize", "{d}/kernel.png", "--family", "orbit-trap", "--size", "100000", "--out", "{d}/o/t.png"], "size = 100000 is out of range (allowed: 4 to 4096)"),
    ("absurd kernel size", ["match", "{d}/target.png", "{d}/kernel.png", "--size", "100000"], "kernel size = 100000 is out of range"),
    ("unknown method", ["match", "{d}/target.png", "{d}/kernel.png", "-m", "TM_SAD"], "unknown method 'TM_SAD' (allowed: TM_SQDIFF"),
    ("unknown family", ["fractalize", "{d}/kernel.png", "--family", "newton", "--out", "{d}/o/t.png"], "unknown family 'newton' (allowed: none, orbit-trap"),
    ("unknown kernel name", ["match", "{d}/target.png", "learned:dog"], "unknown learned kernel 'dog' (allowed: mean-face"),
    ("unknown bank kernel", ["match", "{d}/target.png", "bank:wavelet"], "unknown bank kernel 'wavelet'"),
    ("unknown parameter", ["fractalize", "{d}/kernel.png", "-f", "ifs", "--set", "maps=3", "--out", "{d}/o/t.png"], "no chosen family has a parameter 'maps'"),
    ("parameter out of range", ["fractalize", "{d}/kernel.png", "-f", "orbit-trap", "--set", "degree=8", "--out", "{d}/o/t.png"], "degree = 8 is out of range (allowed: 2 to 5)"),
    ("--set without =", ["fractalize", "{d}/kernel.png", "-f", "droste", "--set", "ratio", "--out", "{d}/o/t.png"], "--set 'ratio' needs the form key=value"),
    ("invalid TOML", ["validate", "{d}/invalid.toml"], "invalid.toml: invalid TOML"),
    ("config wrong type", ["validate", "{d}/wrongtype.toml"], "field 'name' must be str, got int 3"),
    ("config unknown key", ["validate", "{d}/unknownkey.toml"], "unknown field 'workers'"),
    ("config missing key", ["validate", "{d}/missingkey.toml"], "missing field 'variants'"),
    ("empty transform list", ["validate", "{d}/notransforms.toml"], "field 'transforms.rotations' is empty"),
    ("output folder not creatable", ["match", "{d}/target.png", "{d}/kernel.png", "--out", "{d}/file.txt/sub"], "cannot be a folder, because"),
    ("output path is a file", ["match", "{d}/target.png", "{d}/kernel.png", "--out", "{d}/file.txt"], "file.txt: is an existing file"),
    ("report on a non-run folder", ["report", "{d}/folder"], "folder: is not a run folder"),
    ("run into a file", ["run", "{d}/good.toml", "--out", "{d}/file.txt"], "file.txt: is an existing file"),
    ("mask of the wrong size", ["match", "{d}/target.png", "{d}/kernel.png", "--mask", "{d}/target.png"], "does not fit the template (allowed: (16, 20))"),
]


@pytest.mark.parametrize("name, args, message", CATALOGUE, ids=[c[0] for c in CATALOGUE])
def test_bad_input_catalogue(d, name, args, message):
    before = {p for p in d.rglob("*")}
    result = runner.invoke(app, [a.format(d=d) for a in args])
    assert result.exit_code != 0, name
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert message in lines[0], lines[0]
    assert "Traceback" not in result.output + result.stderr
    assert {p for p in d.rglob("*")} == before  # nothing written, not even a folder


def test_catalogue_is_long_enough():
    assert len(CATALOGUE) >= 25


def test_resume_of_a_run_made_from_another_config_is_refused(d):
    assert runner.invoke(app, ["run", str(d / "good.toml"), "--out", str(d / "r"), "-e", "serial"]).exit_code == 0
    result = runner.invoke(app, ["run", str(d / "other.toml"), "--out", str(d / "r"), "--resume", "-e", "serial"])
    assert result.exit_code == 1 and "was made from a different config" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_sixteen_bit_and_float_images_are_matched_on_their_own_scale(d):
    rng = np.random.default_rng(3)
    wide = rng.integers(0, 65536, (50, 60)).astype(np.uint16)
    cv2.imwrite(str(d / "wide.png"), wide)
    cv2.imwrite(str(d / "wide_kernel.png"), wide[10:30, 20:44])
    cv2.imwrite(str(d / "float.tiff"), (wide / 65535.0).astype(np.float32))
    cv2.imwrite(str(d / "float_kernel.tiff"), (wide[10:30, 20:44] / 65535.0).astype(np.float32))
    for target, kernel in (("wide.png", "wide_kernel.png"), ("float.tiff", "float_kernel.tiff")):
        out = d / f"m-{target}"
        result = runner.invoke(app, ["match", str(d / target), str(d / kernel), "--out", str(out)])
        assert result.exit_code == 0, result.output
        best = [r for r in csv.DictReader((out / "matches.csv").open()) if r["rank"] == "1"]
        assert all((r["x"], r["y"]) == ("20", "10") for r in best), target


def test_rgba_kernel_alpha_becomes_the_mask(d):
    rng = np.random.default_rng(4)
    target = rng.integers(0, 256, (60, 80, 3)).astype(np.uint8)
    kernel = np.dstack([target[20:36, 30:50].copy(), np.zeros((16, 20), np.uint8)])
    kernel[4:12, 5:15, 3] = 255
    kernel[kernel[:, :, 3] == 0, :3] = 255 - kernel[kernel[:, :, 3] == 0, :3]  # garbage outside the alpha
    save_image(d / "scene.png", target)
    save_image(d / "rgba.png", kernel)
    result = runner.invoke(app, ["match", str(d / "scene.png"), str(d / "rgba.png"), "--color", "-m", "TM_CCOEFF_NORMED",
                                 "--out", str(d / "rgba-out")])
    assert result.exit_code == 0, result.output
    best = next(csv.DictReader((d / "rgba-out" / "matches.csv").open()))
    assert (best["x"], best["y"]) == ("30", "20") and float(best["score"]) == pytest.approx(1.0, abs=1e-4)


def test_errors_through_the_real_console_script_have_no_traceback(d):
    result = subprocess.run([sys.executable, "-m", "fractal_match", "match", str(d / "nope.png"), str(d / "kernel.png")],
                            capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"error: {d / 'nope.png'}: no such file"]
