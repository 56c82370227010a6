"""Plug-ins: a package installed beside the tool adds a generator family and a kernel source
through entry points; they then work everywhere a built-in does."""

import csv
import os
import subprocess
import sys
import textwrap

import pytest

PYPROJECT = """
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "fm-tiles-plugin"
version = "0.1"

[project.entry-points."fractal_match.families"]
tiles = "fm_tiles_plugin:TILES"

[project.entry-points."fractal_match.kernels"]
dots = "fm_tiles_plugin:DOTS"

[tool.setuptools]
py-modules = ["fm_tiles_plugin"]
"""

MODULE = '''
"""A tiny plug-in: the kernel tiled copies x copies (a control), and a grid of dots (a kernel source)."""
import cv2
import numpy as np

from fractal_match import Family, KernelSource, Param, ParameterError


def tile(kernel, size, copies):
    side = max(1, size // copies)
    small = cv2.resize(kernel, (side, side), interpolation=cv2.INTER_AREA)
    reps = (copies, copies) + (1,) * (kernel.ndim - 2)
    image = np.zeros((size, size) + kernel.shape[2:], np.float32)
    tiled = np.tile(small, reps)
    image[: tiled.shape[0], : tiled.shape[1]] = tiled
    return image, None


def dots(spec, mode):
    try:
        count = int(spec)
    except ValueError:
        raise ParameterError(f"dots:{spec}: needs a whole number of dots per side") from None
    image = np.zeros((48, 48), np.uint8)
    for y in range(count):
        for x in range(count):
            cv2.circle(image, (8 + x * 32 // count, 8 + y * 32 // count), 3, 255, -1)
    return image


TILES = Family("tiles", "control", "the kernel tiled copies x copies",
               (Param("copies", int, 2, "copies per side", 1, 8),), tile)
DOTS = KernelSource("dots", "a grid of dots: dots:N", dots, lambda: ["3"])
'''

CONFIG = """
name = "plugin"
seed = 0
kernels = ["dots:3", "crop"]

[targets]
annotations = ["coins/coin-3", "astronaut/face"]

[transforms]
scales = [1.0]
rotations = [0, 30]

[[variants]]
family = "none"

[[variants]]
family = "tiles"
params = { copies = COPIES }

[[variants]]
family = "orbit-trap"

[matching]
methods = ["TM_CCOEFF_NORMED", "TM_SQDIFF"]
"""


@pytest.fixture(scope="module")
def plugin(tmp_path_factory):
    """The plug-in package built and installed (pip, no network) into a folder of its own."""
    root = tmp_path_factory.mktemp("plugin")
    source, target = root / "src", root / "site"
    source.mkdir()
    (source / "pyproject.toml").write_text(PYPROJECT)
    (source / "fm_tiles_plugin.py").write_text(textwrap.dedent(MODULE))
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(target), str(source)], check=True, capture_output=True)
    assert list(target.glob("fm_tiles_plugin-0.1.dist-info/entry_points.txt"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")]),
           "PYTHONWARNINGS": "error"}
    return root, env


def cli(env, *args, cwd=None):
    return subprocess.run([sys.executable, "-m", "fractal_match", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_a_plugin_family_and_kernel_are_listed(plugin):
    _, env = plugin
    families = cli(env, "families")
    assert families.returncode == 0, families.stderr
    assert "tiles (control): the kernel tiled copies x copies" in families.stdout
    assert "copies" in families.stdout and "1 to 8" in families.stdout
    kernels = cli(env, "kernels")
    assert "dots:3" in kernels.stdout.splitlines()


def test_fractalize_uses_a_plugin_family_and_checks_its_parameters(plugin):
    root, env = plugin
    out = root / "tiles.png"
    made = cli(env, "fractalize", "dots:3", "--family", "tiles", "--set", "copies=3", "--size", "60", "--out", str(out))
    assert made.returncode == 0, made.stderr
    from fractal_match import load_image, read_png_metadata

    assert read_png_metadata(out)["family"] == "tiles"
    assert load_image(out).shape == (60, 60)
    bad = cli(env, "fractalize", "dots:3", "--family", "tiles", "--set", "copies=9", "--out", str(root / "no.png"))
    assert bad.returncode == 1 and bad.stderr.strip() == "error: tiles: parameter copies = 9 is out of range (allowed: 1 to 8)"
    assert not (root / "no.png").exists()


def test_a_config_with_a_plugin_runs_on_workers_and_reports(plugin):
    root, env = plugin
    config = root / "plugin.toml"
    config.write_text(CONFIG.replace("COPIES", "3"))
    checked = cli(env, "validate", str(config))
    assert checked.returncode == 0, checked.stderr
    run = cli(env, "run", str(config), "--out", str(root / "run"), "--workers", "2")
    assert run.returncode == 0, run.stderr
    rows = list(csv.DictReader(open(root / "run" / "results.csv")))
    assert len(rows) == 2 * 2 * 2 * 3 * 2  # objects x poses x kernels x variants x methods
    tiles = [r for r in rows if r["family"] == "tiles"]
    assert tiles and all(r["status"] == "ok" for r in tiles)
    report = cli(env, "report", str(root / "run"))
    assert report.returncode == 0, report.stderr
    comparisons = list(csv.DictReader(open(root / "run" / "report" / "comparisons.csv")))
    # a plug-in control is compared with the plain kernel, and a fractal is compared with it
    assert {(r["first"], r["second"]) for r in comparisons} >= {("tiles", "none"), ("orbit-trap", "tiles")}
    config.write_text(CONFIG.replace("COPIES", "0"))
    bad = cli(env, "validate", str(config))
    assert bad.returncode == 1 and "variants[1]: tiles: parameter copies = 0 is out of range" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_a_broken_plugin_is_one_clear_line(tmp_path):
    site = tmp_path / "site"
    (site / "fm_broken-0.1.dist-info").mkdir(parents=True)
    (site / "fm_broken-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: fm-broken\nVersion: 0.1\n")
    (site / "fm_broken-0.1.dist-info" / "entry_points.txt").write_text(
        "[fractal_match.families]\nbroken = fm_broken_missing:FAMILY\n")
    env = {**os.environ, "PYTHONPATH": str(site)}
    result = cli(env, "families")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: plug-in 'broken' (fm_broken_missing:FAMILY, entry point group fractal_match.families): cannot be "
        "loaded (ModuleNotFoundError: No module named 'fm_broken_missing')"]


def _fake_site(root, entries: str, module: str):
    """A plug-in 'installed' as a dist-info folder and a module: no build, no pip."""
    info = root / "fm_fake-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fm-fake\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(entries)
    (root / "fm_fake.py").write_text(textwrap.dedent(module))
    return {**os.environ, "PYTHONPATH": str(root)}


FAKE = '''
from fractal_match import Family, KernelSource, Param

def explode(kernel, size, **params):
    raise RuntimeError("the plug-in's own bug")

def load(spec, mode):
    raise ValueError(f"cannot read {spec}")

GOOD = Family("good", "control", "a working plug-in family", (), lambda kernel, size: (kernel[:size, :size], None))
BUGGY = Family("buggy", "control", "a family whose code raises", (), explode)
SOURCE = KernelSource("oops", "a source whose code raises", load, lambda: ["x"])
'''


def test_a_plugin_whose_code_raises_is_one_line_naming_it(tmp_path):
    env = _fake_site(tmp_path / "site", "[fractal_match.families]\ngood = fm_fake:GOOD\nbuggy = fm_fake:BUGGY\n"
                     "[fractal_match.kernels]\noops = fm_fake:SOURCE\n", FAKE)
    made = cli(env, "fractalize", "learned:mean-face", "--family", "buggy", "--out", str(tmp_path / "t.png"))
    assert made.returncode == 1 and not (tmp_path / "t.png").exists()
    assert made.stderr.strip().splitlines() == [
        "error: plug-in 'buggy' (fm_fake:BUGGY, entry point group fractal_match.families): making a buggy template "
        "failed (RuntimeError: the plug-in's own bug)"]
    loaded = cli(env, "fractalize", "oops:x", "--family", "good", "--out", str(tmp_path / "t.png"))
    assert loaded.returncode == 1 and len(loaded.stderr.strip().splitlines()) == 1
    assert "plug-in 'oops'" in loaded.stderr and "ValueError: cannot read x" in loaded.stderr


def test_a_broken_plugin_does_not_hide_the_others(tmp_path):
    env = _fake_site(tmp_path / "site", "[fractal_match.families]\na_broken = fm_fake:MISSING\nb_good = fm_fake:GOOD\n", FAKE)
    probe = ("from fractal_match import FAMILIES, ParameterError\n"
             "for _ in range(2):\n"
             "    try:\n        list(FAMILIES)\n        print('listed')\n"
             "    except ParameterError as exc:\n        print('error', 'a_broken' in str(exc))\n"
             "print('good' in FAMILIES._entries)\n")
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    # the failure is raised on every use, never a silently partial registry; the good one loaded
    assert result.stdout.split() == ["error", "True", "error", "True", "True"], result.stderr
