"""The small frictions of daily use, each fixed: "did you mean" for names, short method names,
a resume hint that repeats the options given, a report that says a run is partial, plug-in
packages in manifests and figure metadata, and `match --box`."""

import csv

import numpy as np
import pytest
from typer.testing import CliRunner

from fractal_match import ParameterError, save_image
from fractal_match._errors import ConfigError, closest, did_you_mean, unknown_name
from fractal_match.cli import app
from fractal_match.engine._methods import METHODS, canonical_method, check_methods

runner = CliRunner()


@pytest.fixture()
def scene(tmp_path):
    rng = np.random.default_rng(0)
    target = rng.integers(0, 256, (60, 80)).astype(np.uint8)
    save_image(tmp_path / "target.png", target)
    save_image(tmp_path / "kernel.png", target[20:36, 30:50])
    return tmp_path


def one_line_error(result) -> str:
    """The single stderr line of a failed command (and no traceback anywhere)."""
    assert result.exit_code != 0, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output + result.stderr
    return lines[0]


# --- did you mean ------------------------------------------------------------------------------

def test_did_you_mean_suggests_the_closest_name_case_insensitively_or_nothing():
    names = ["orbit-trap", "ifs", "droste"]
    assert did_you_mean("orbit-trp", names) == "did you mean 'orbit-trap'? "
    assert did_you_mean("ORBIT-TRAP", names) == "did you mean 'orbit-trap'? "  # case does not count
    assert did_you_mean("mandelbrot", names) == ""
    assert did_you_mean("newton", ["none", "ifs"]) == ""  # difflib alone (0.6) would offer "none"
    assert closest("drost", names) == "droste" and closest("xyz", names) is None
    assert closest("ab", ["abcdefgh"]) is None  # below the cutoff: not suggested
    assert unknown_name("family", "ifz", names) == "unknown family 'ifz' (did you mean 'ifs'? allowed: orbit-trap, ifs, droste)"
    assert unknown_name("family", "zzz", names) == "unknown family 'zzz' (allowed: orbit-trap, ifs, droste)"


def test_a_mistyped_config_field_is_suggested(tmp_path):
    from fractal_match._toml import TableReader

    reader = TableReader(tmp_path / "c.toml", {"rotatoins": [0]}, "transforms.")
    reader.get("rotations", list)
    reader.get("scales", list)
    with pytest.raises(ConfigError) as error:
        reader.finish()
    assert str(error.value).endswith("unknown field 'transforms.rotatoins' (did you mean 'rotations'? "
                                     "allowed: rotations, scales)")


@pytest.mark.parametrize("args, message", [
    (["match", "{d}/target.png", "{d}/kernel.png", "--family", "orbit-trp"],
     "unknown family 'orbit-trp' (did you mean 'orbit-trap'? allowed: none, "),
    (["match", "{d}/target.png", "{d}/kernel.png", "-m", "TM_CCOEF_NORMED"],
     "unknown method 'TM_CCOEF_NORMED' (did you mean 'TM_CCOEFF_NORMED'? allowed: TM_SQDIFF, "),
    (["match", "{d}/target.png", "bank:gabr"], "unknown bank kernel 'gabr' (did you mean 'gabor'? allowed: gabor, "),
    (["match", "{d}/target.png", "bnak:gabor"],
     "kernel bnak:gabor: no such file, and unknown kernel source 'bnak' (did you mean 'bank'? allowed: bank, "),
    (["match", "{d}/target.png", "learned:mean-fce"], "unknown learned kernel 'mean-fce' (did you mean 'mean-face'?"),
    (["match", "{d}/target.png", "{d}/kernel.png", "--family", "ifs", "--set", "ifs.scal=0.5"],
     "ifs: unknown parameter 'scal' (did you mean 'scale'? allowed: "),
    (["match", "{d}/target.png", "bank:gabor?sigm=3"], "bank:gabor: unknown parameter 'sigm' (did you mean 'sigma'?"),
    (["fractalize", "{d}/kernel.png", "--family", "Droste", "--out", "{d}/never/t.png"],
     "unknown family 'Droste' (did you mean 'droste'?"),
    (["bench", "matchng"], "unknown benchmark 'matchng' (did you mean 'matching'? allowed: matching, "),
])
def test_mistyped_names_get_a_suggestion_in_one_line(scene, args, message):
    out = scene / "never"
    args = [a.format(d=scene) for a in args]
    if args[0] == "match":
        args += ["--out", str(out)]
    line = one_line_error(runner.invoke(app, args))
    assert message in line, line
    assert not out.exists()


def test_a_mistyped_executor_is_suggested():
    from fractal_match.experiments.executors import ExecutorError, execute

    with pytest.raises(ExecutorError, match=r"unknown executor 'dsak' \(did you mean 'dask'\? allowed: serial, "):
        list(execute(abs, [], "dsak"))


def test_a_cli_executor_typo_names_the_executor(tmp_path):
    config = tmp_path / "tiny.toml"
    config.write_text('name = "t"\nkernels = ["crop"]\n[targets]\nannotations = ["coins/coin-3"]\n'
                      '[[variants]]\nfamily = "none"\n[matching]\nmethods = ["TM_SQDIFF"]\n')
    line = one_line_error(runner.invoke(app, ["run", str(config), "--executor", "proceses", "--out", str(tmp_path / "r")]))
    assert line == "error: unknown executor 'proceses' (did you mean 'processes'? allowed: serial, processes, dask)"
    assert not (tmp_path / "r").exists()


# --- short method names ------------------------------------------------------------------------

@pytest.mark.parametrize("spelling", ["TM_CCOEFF_NORMED", "CCOEFF_NORMED", "ccoeff_normed", "ccoeff-normed",
                                      "TM_CCOEFF-NORMED", "tm_ccoeff_normed", "Ccoeff-Normed"])
def test_every_spelling_of_a_method_gives_its_canonical_name(spelling):
    assert canonical_method(spelling) == "TM_CCOEFF_NORMED"


def test_each_method_round_trips_through_its_short_forms():
    for name in METHODS:
        short = name[3:]
        assert {canonical_method(s) for s in (name, short, short.lower(), short.replace("_", "-"))} == {name}
    assert check_methods(["sqdiff", "TM_SQDIFF", "ccorr-normed"]) == ("TM_SQDIFF", "TM_CCORR_NORMED")  # once each


@pytest.mark.parametrize("name, suggestion", [("TM_CCOEF_NORMED", "TM_CCOEFF_NORMED"), ("sqdif", "TM_SQDIFF"),
                                              ("TM_SAD", None), ("CCOEFF_NORMED_X", "TM_CCOEFF_NORMED"), ("", None)])
def test_an_unknown_method_is_one_line_with_suggestion_and_short_forms(name, suggestion):
    with pytest.raises(ParameterError) as error:
        canonical_method(name)
    message = str(error.value)
    assert "\n" not in message and message.startswith(f"unknown method {name!r} (")
    assert ("did you mean" in message) == (suggestion is not None)
    if suggestion:
        assert f"(did you mean {suggestion!r}? allowed: TM_SQDIFF, " in message
    else:
        assert f"unknown method {name!r} (allowed: TM_SQDIFF, " in message
    assert "the TM_ prefix may be left out" in message


def test_the_python_api_takes_short_names_and_keys_maps_canonically():
    from fractal_match import match_all, match_many
    from fractal_match.engine.detect import detect
    from fractal_match.engine.peaks import find_peaks

    rng = np.random.default_rng(3)
    target = rng.integers(0, 256, (40, 50)).astype(np.uint8)
    kernel = target[10:22, 15:30].copy()
    responses = match_all(target, kernel, ["ccoeff-normed", "SQDIFF"])
    assert list(responses) == ["TM_CCOEFF_NORMED", "TM_SQDIFF"]
    assert responses["ccoeff_normed"] is responses["TM_CCOEFF_NORMED"]  # any spelling finds the map
    assert (responses.best("sqdiff").x, responses.best("sqdiff").y) == (15, 10)
    assert responses.degenerate_count("Ccoeff_Normed") == 0
    with pytest.raises(KeyError):
        responses["TM_CCORR"]  # a method that was not asked for stays missing
    (many,) = match_many(target, [kernel], "ccorr_normed")
    assert list(many) == ["TM_CCORR_NORMED"]
    peak = find_peaks(responses["TM_SQDIFF"], "sqdiff", kernel.shape, k=1)[0]
    assert (peak.x, peak.y) == (15, 10)
    assert detect(target, [("k", kernel, None)], ["ccoeff-normed"]).methods == ("TM_CCOEFF_NORMED",)
    with pytest.raises(ParameterError, match="did you mean 'TM_CCOEFF_NORMED'"):
        match_all(target, kernel, ["ccoef_normed"])


def test_match_takes_short_names_and_writes_canonical_ones(scene):
    out = scene / "out"
    result = runner.invoke(app, ["match", str(scene / "target.png"), str(scene / "kernel.png"), "-m", "ccoeff-normed",
                                 "-m", "SQDIFF", "-m", "tm_sqdiff", "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((out / "matches.csv").open()))
    assert [r["method"] for r in rows] == ["TM_CCOEFF_NORMED", "TM_SQDIFF"]
    assert "TM_CCOEFF_NORMED" in result.stdout and "ccoeff-normed" not in result.stdout
    from fractal_match.images import read_png_metadata

    assert read_png_metadata(out / "detection_grid.png")["methods"] == '["TM_CCOEFF_NORMED", "TM_SQDIFF"]'
