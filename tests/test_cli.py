import csv
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from fractal_match import __version__, save_image
from fractal_match.cli import app
from fractal_match.datasets import DATA_DIR
from fractal_match.images import read_png_metadata

runner = CliRunner()


@pytest.fixture()
def scene(tmp_path):
    rng = np.random.default_rng(0)
    target = rng.integers(0, 256, (60, 80)).astype(np.uint8)
    save_image(tmp_path / "target.png", target)
    save_image(tmp_path / "kernel.png", target[20:36, 30:50])
    return tmp_path


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and __version__ in result.stdout


def test_match_writes_grid_and_csv_and_finds_the_crop(scene):
    out = scene / "out"
    result = runner.invoke(app, ["match", str(scene / "target.png"), str(scene / "kernel.png"), "--out", str(out), "--top-k", "2"])
    assert result.exit_code == 0, result.output
    assert "TM_CCOEFF_NORMED" in result.stdout
    rows = list(csv.DictReader((out / "matches.csv").open()))
    assert set(rows[0]) >= {"method", "rank", "x", "y", "w", "h", "score"}
    assert {r["method"] for r in rows} == {"TM_SQDIFF", "TM_SQDIFF_NORMED", "TM_CCORR", "TM_CCORR_NORMED", "TM_CCOEFF", "TM_CCOEFF_NORMED"}
    best = {r["method"]: r for r in rows if r["rank"] == "1"}
    for method in ("TM_SQDIFF", "TM_SQDIFF_NORMED", "TM_CCORR_NORMED", "TM_CCOEFF", "TM_CCOEFF_NORMED"):
        assert (best[method]["x"], best[method]["y"]) == ("30", "20"), method
    assert (best["TM_CCOEFF_NORMED"]["w"], best["TM_CCOEFF_NORMED"]["h"]) == ("20", "16")
    assert float(best["TM_CCOEFF_NORMED"]["score"]) == pytest.approx(1.0, abs=1e-5)
    assert (out / "detection_grid.png").exists() and not (out / "detection_grid.svg").exists()  # SVG only when asked
    assert read_png_metadata(out / "detection_grid.png")["command"] == "match"


def test_match_with_selected_methods_colour_and_mask(scene):
    mask = np.zeros((16, 20), np.uint8)
    mask[4:12, 5:15] = 255
    save_image(scene / "mask.png", mask)
    save_image(scene / "ct.png", np.dstack([np.random.default_rng(1).integers(0, 256, (60, 80)).astype(np.uint8)] * 3))
    out = scene / "o2"
    result = runner.invoke(app, ["match", str(scene / "ct.png"), "crop:astronaut/patch", "--color", "--size", "20",
                                 "-m", "TM_SQDIFF", "-m", "TM_CCORR_NORMED", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert {r["method"] for r in csv.DictReader((out / "matches.csv").open())} == {"TM_SQDIFF", "TM_CCORR_NORMED"}
    result = runner.invoke(app, ["match", str(scene / "target.png"), str(scene / "kernel.png"), "--mask", str(scene / "mask.png"), "--out", str(out)])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("args, message", [
    (["match", "{d}/missing.png", "{d}/kernel.png"], "missing.png: no such file"),
    (["match", "{d}/target.png", "{d}/nope.png"], "nope.png: no such file"),
    (["match", "{d}/notimage.png", "{d}/kernel.png"], "not an image"),
    (["match", "{d}/target.png", "{d}/kernel.png", "-m", "TM_FOO"], "unknown method 'TM_FOO'"),
    (["match", "{d}/kernel.png", "{d}/target.png"], "larger than the target"),
    (["match", "{d}/target.png", "{d}/kernel.png", "--mask", "{d}/target.png"], "does not fit the template"),
    (["match", "{d}/target.png", "learned:nothing"], "unknown learned kernel 'nothing'"),
    (["match", "{d}/target.png", "{d}/kernel.png", "--out", "{d}/target.png"], "is an existing file"),
    (["match", "{d}/target.png", "{d}/kernel.png", "--size", "0"], "kernel size = 0 is out of range"),
    (["bench", "nothing"], "unknown benchmark 'nothing'"),
    (["match", "{d}/target.png", "{d}/kernel.png", "--family", "mandel"], "unknown family 'mandel'"),
    (["match", "{d}/target.png", "{d}/kernel.png", "--family", "ifs", "--set", "degree=3"], "no chosen family has a parameter 'degree'"),
    (["match", "{d}/target.png", "{d}/kernel.png", "--family", "ifs", "--set", "scale"], "needs the form key=value"),
    (["match", "{d}/target.png", "{d}/kernel.png", "--family", "ifs", "--set", "scale=0.9"], "scale = 0.9 is out of range"),
    (["fractalize", "{d}/kernel.png", "--family", "orbit-trap", "--size", "100000", "--out", "{d}/never/t.png"], "size = 100000 is out of range"),
    (["fractalize", "{d}/kernel.png", "--family", "droste", "--set", "ratio=2", "--out", "{d}/never/t.png"], "ratio = 2 is out of range (allowed: 0.2 to 0.6)"),
    (["fractalize", "{d}/kernel.png", "--family", "droste", "--out", "{d}/never/t.jpg"], "templates are written as PNG"),
    (["fractalize", "{d}/kernel.png", "--out", "{d}/never/t.png"], "--family is required"),
    (["fractalize", "bank:gabor?sigma=0", "--family", "none", "--out", "{d}/never/t.png"], "sigma = 0 is out of range"),
])
def test_bad_input_gives_one_line_and_no_output(scene, args, message):
    (scene / "notimage.png").write_text("this is text")
    out = scene / "never"
    args = [a.format(d=scene) for a in args]
    if "--out" not in args and args[0] == "match":
        args += ["--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code != 0
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert not out.exists()


def test_demo_runs_on_bundled_data(tmp_path):
    # as a newcomer runs it (its own process, workers too), with every Python warning an error
    from test_warnings import strict

    done = strict("demo", cwd=tmp_path)
    (demo,) = (tmp_path / "results").glob("demo-*")  # a new folder of its own, under the current one
    assert f"into {demo.relative_to(tmp_path)}/" in done.stdout and "36 group(s) run" in done.stdout
    assert "matching took" in done.stdout
    rows = list(csv.DictReader((demo / "matches.csv").open()))
    assert {r["variant"] for r in rows} == {"ONet face unit", "orbit-trap", "shrunk-pad", "scrambled"}
    assert len(rows) == 4 * 6 * 3
    metadata = read_png_metadata(demo / "detection_grid.png")
    assert json.loads(metadata["truth"]) == [231, 94, 32, 39]  # Messi's face in messi5.jpg, the blog's photo
    assert [v["family"] for v in json.loads(metadata["variants"])] == ["none", "orbit-trap", "shrunk-pad", "scrambled"]
    assert (demo / "gallery.png").exists()
    batch = list(csv.DictReader((demo / "quick" / "results.csv").open()))
    assert len(batch) == 36 * 2 * 6 * 6
    # every row is measured, or its map is flat (a saturated TM_SQDIFF_NORMED): no detection, never a hit
    assert all(r["status"] == "ok" or r["status"].startswith("flat: ") for r in batch)
    assert all(r["hit"] == "0" and r["x"] == "" for r in batch if r["status"] != "ok")
    # one unit of throughput: the template matches the rows record are the ones the config counts
    from fractal_match.experiments.config import load_config
    from fractal_match.experiments.plan import count_cases

    assert sum(int(r["templates"]) for r in batch) // 6 == count_cases(load_config("quick"))[1] == 1224
    # the demo always runs afresh: a folder that holds files is refused, and left as it was
    before = sorted(p.name for p in demo.iterdir())
    again = runner.invoke(app, ["demo", "--out", str(demo)])
    assert again.exit_code == 1 and "already holds files" in again.stderr
    assert sorted(p.name for p in demo.iterdir()) == before


def test_fractalize_writes_template_with_mask_and_parameters(tmp_path):
    out = tmp_path / "t.png"
    result = runner.invoke(app, ["fractalize", "learned:mean-face", "--family", "orbit-trap", "--set", "degree=3",
                                 "--set", "c=0.3-0.5i", "--size", "96", "--out", str(out)])
    assert result.exit_code == 0, result.output
    from fractal_match import load_image

    image, mask = load_image(out, "gray", return_mask=True)
    assert image.shape == (96, 96) and mask is not None and 0 < (mask > 0).mean() < 1
    metadata = read_png_metadata(out)
    assert metadata["family"] == "orbit-trap" and metadata["kernel"] == "learned:mean-face"
    params = json.loads(metadata["params"])
    assert params["degree"] == 3 and params["c"] == "(0.3-0.5j)" and params["size"] == 96
    # the saved template is usable as a kernel: its alpha becomes the mask
    result = runner.invoke(app, ["match", str(DATA_DIR / "images" / "astronaut.png"), str(out), "--out", str(tmp_path / "m"), "-m", "TM_SQDIFF"])
    assert result.exit_code == 0, result.output


def test_fractalize_gallery_and_listings(tmp_path):
    result = runner.invoke(app, ["fractalize", "bank:ring", "--gallery", "--size", "48", "--out", str(tmp_path / "g.png")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "g.png").exists() and not (tmp_path / "g.svg").exists()
    result = runner.invoke(app, ["fractalize", "bank:ring", "--gallery", "--size", "48", "--svg", "--out", str(tmp_path / "s.png")])
    assert result.exit_code == 0, result.output
    assert "<svg" in (tmp_path / "s.svg").read_text()[:500]
    result = runner.invoke(app, ["families"])
    assert result.exit_code == 0
    for family in ("orbit-trap", "ifs", "droste", "scale-sum", "rot-sym", "harmonic", "blur", "shrunk-pad", "scrambled", "flip"):
        assert family in result.stdout
    assert "trap_half" in result.stdout and "0.01 to 2" in result.stdout
    result = runner.invoke(app, ["kernels", "--sheet", str(tmp_path / "k.png")])
    assert result.exit_code == 0 and "learned:eigenface-3" in result.stdout and "crop:chelsea/nose" in result.stdout
    assert (tmp_path / "k.png").exists()


def test_match_with_families_shows_variants_side_by_side(tmp_path):
    out = tmp_path / "fm"
    result = runner.invoke(app, ["match", str(DATA_DIR / "images" / "coins.png"), "crop:coins/coin-3", "--family", "orbit-trap",
                                 "--family", "rot-sym", "--set", "n=4", "--set", "orbit-trap.degree=2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((out / "matches.csv").open()))
    assert {r["variant"] for r in rows} == {"crop:coins/coin-3", "orbit-trap", "rot-sym"}
    metadata = read_png_metadata(out / "detection_grid.png")
    assert json.loads(metadata["families"]) == ["orbit-trap", "rot-sym"]
    # the plain crop of an object finds that object
    best = next(r for r in rows if r["variant"] == "crop:coins/coin-3" and r["method"] == "TM_CCOEFF_NORMED" and r["rank"] == "1")
    assert (best["x"], best["y"]) == ("130", "27")


def test_bench_quick_writes_self_describing_json(tmp_path):
    out = tmp_path / "b.json"
    result = runner.invoke(app, ["bench", "matching", "--quick", "--out", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["environment"]["tool"] == "fractal-match" and report["environment"]["opencv"]
    assert len(report["rows"]) == 4 and all(r["ours"]["median_ms"] > 0 for r in report["rows"])
    assert report["summary"]["geomean_ours_over_ccorr"] > 0
    many = report["many_kernels"]
    assert [(r["channels"], r["kernels"]) for r in many] == [(1, 1), (1, 2), (3, 1), (3, 2)]
    assert all(r["ours_per_kernel_ms"] > 0 for r in many)


def test_bench_sweep_quick_does_the_same_work_as_the_original_loop(tmp_path):
    # The sweep asserts that every run records as many template matches as the original loop
    # makes; memory is sampled from the process tree of real `fractal-match run` processes.
    out = tmp_path / "s.json"
    result = runner.invoke(app, ["bench", "sweep", "--quick", "--repeats", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads(out.read_text())["summary"]
    assert summary["template_matches"] == 102  # 3 groups x 2 kernels x (4 plain + 12 bank + 1 oracle)
    assert set(summary["matches_per_second"]) == {"ours_1_worker", "ours_2_workers", "ours_in_process",
                                                  "original_loop", "correlation_floor"}
    assert summary["ours_1_worker_over_floor"] > 1  # the floor is a part of what ours does
    assert all(p["threads"] == 1 for report in summary["worker_pools"] for p in report["pools"])
    assert summary["memory"]["10"]["groups"] == 10 * summary["memory"]["1"]["groups"]
    assert 0 < summary["memory"]["1"]["peak_process_mib"] <= summary["memory"]["1"]["peak_tree_mib"]
