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


# --- the resume hint ---------------------------------------------------------------------------

def test_the_resume_command_repeats_every_option_shell_quoted():
    from fractal_match.cli.batch import resume_command

    hint = resume_command("run", ["my configs/big.toml"], "runs/it's here",
                          [("--executor", "dask"), ("--workers", 2), ("--scheduler", "tcp://h:8786"), ("--limit", 3)])
    assert hint == ("fractal-match run 'my configs/big.toml' --out 'runs/it'\"'\"'s here' --resume "
                    "--executor dask --workers 2 --scheduler tcp://h:8786 --limit 3")
    import shlex

    assert shlex.split(hint)[2:5] == ["my configs/big.toml", "--out", "runs/it's here"]  # the shell reads it back
    assert resume_command("tune", ["s.toml"], "t", [("--trials", 5)], ["--verbose"]) == \
        "fractal-match --verbose tune s.toml --out t --resume --trials 5"


TINY = """
name = "tiny"
seed = 0
kernels = ["crop"]
[targets]
annotations = ["coins/coin-3", "chelsea/nose"]
[transforms]
scales = [1.0]
rotations = [0, 30]
[[variants]]
family = "none"
[matching]
methods = ["TM_CCOEFF_NORMED"]
"""


@pytest.fixture()
def tiny_config(tmp_path):
    path = tmp_path / "tiny config.toml"
    path.write_text(TINY)
    return path


def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


@pytest.mark.parametrize("options, expected", [
    (["--workers", "2"], "--workers 2"),
    (["-e", "serial", "--limit", "1"], "--executor serial --limit 1"),
    (["--executor", "dask", "-w", "3", "--scheduler", "tcp://host:8786"],
     "--executor dask --workers 3 --scheduler tcp://host:8786"),
    ([], ""),
])
def test_ctrl_c_in_run_prints_a_hint_with_the_options_given(tmp_path, tiny_config, monkeypatch, options, expected):
    import shlex

    import fractal_match.experiments.runs as runs

    monkeypatch.setattr(runs, "run_experiment", _interrupt)
    out = tmp_path / "run ctrl-c"
    result = runner.invoke(app, ["run", str(tiny_config), "--out", str(out), *options])
    assert result.exit_code == 130
    line = one_line_error(result)
    prefix = "interrupted: finished cases are saved; continue with: "
    assert line.startswith(prefix)
    command = line[len(prefix):]
    assert command == (f"fractal-match run {shlex.quote(str(tiny_config))} --out {shlex.quote(str(out))} --resume"
                       + (f" {expected}" if expected else ""))


def test_ctrl_c_without_out_names_the_folder_it_chose(tmp_path, tiny_config, monkeypatch):
    import shlex

    import fractal_match.experiments.runs as runs

    monkeypatch.setattr(runs, "run_experiment", _interrupt)
    monkeypatch.chdir(tmp_path)
    line = one_line_error(runner.invoke(app, ["-v", "run", str(tiny_config), "-w", "2"]))
    words = shlex.split(line.split("continue with: ")[1])
    assert words[:4] == ["fractal-match", "--verbose", "run", str(tiny_config)]
    assert words[4] == "--out" and words[5].startswith("results/tiny-") and words[6:] == ["--resume", "--workers", "2"]


def test_ctrl_c_in_tune_and_confirm_repeats_their_options(tmp_path, tiny_config, monkeypatch):
    import fractal_match.search.confirm as confirm
    import fractal_match.search.study as study

    monkeypatch.setattr(study, "tune", _interrupt)
    line = one_line_error(runner.invoke(app, ["tune", str(tiny_config), "--out", str(tmp_path / "t"), "--trials", "4",
                                              "--workers", "2"]))
    assert line.endswith(f"continue with: fractal-match tune '{tiny_config}' --out {tmp_path / 't'} --resume "
                         "--trials 4 --workers 2")
    monkeypatch.setattr(confirm, "confirm", _interrupt)
    line = one_line_error(runner.invoke(app, ["confirm", str(tmp_path / "t"), "-e", "serial"]))
    assert line.endswith(f"continue with: fractal-match confirm {tmp_path / 't'} --out {tmp_path / 't-confirm'} "
                         "--resume --executor serial")


def test_an_error_that_keeps_the_work_ends_with_the_command_that_continues(tmp_path, tiny_config, monkeypatch):
    import fractal_match.experiments.runs as runs
    from fractal_match.experiments.executors import ExecutorError

    def worker_died(*args, **kwargs):
        error = ExecutorError("a worker process died (killed or out of memory); finished work is saved, "
                              "continue with --resume")
        error.resumable = True
        raise error

    monkeypatch.setattr(runs, "run_experiment", worker_died)
    out = tmp_path / "r"
    line = one_line_error(runner.invoke(app, ["run", str(tiny_config), "--out", str(out), "--workers", "2"]))
    assert line == ("error: a worker process died (killed or out of memory); finished work is saved, continue with "
                    f"--resume: fractal-match run '{tiny_config}' --out {out} --resume --workers 2")


def test_a_limited_run_says_how_to_continue_and_the_hint_completes_it(tmp_path, tiny_config):
    import shlex

    out = tmp_path / "limited"
    first = runner.invoke(app, ["run", str(tiny_config), "--out", str(out), "-e", "serial", "--limit", "1"])
    assert first.exit_code == 0, first.output
    assert "partial (1 of 4 groups)" in first.stdout
    hint = first.stdout.strip().splitlines()[-1]
    assert hint == f"continue with: fractal-match run '{tiny_config}' --out {out} --resume --executor serial --limit 1"
    again = runner.invoke(app, shlex.split(hint.removeprefix("continue with: "))[1:])  # the hint, as the shell reads it
    assert again.exit_code == 0, again.output
    assert "partial (2 of 4 groups)" in again.stdout


# --- a partial run in the report ---------------------------------------------------------------

def test_report_marks_a_partial_run_on_the_page_and_terminal_and_its_command_completes_it(tmp_path, tiny_config):
    import json
    import shlex

    out = tmp_path / "part run"
    assert runner.invoke(app, ["run", str(tiny_config), "--out", str(out), "-e", "serial", "--limit", "3"]).exit_code == 0
    assert json.loads((out / "manifest.json").read_text())["groups_planned"] == 4
    made = runner.invoke(app, ["report", str(out)])
    assert made.exit_code == 0, made.output
    command = f"fractal-match run {shlex.quote(str(out / 'config.toml'))} --out {shlex.quote(str(out))} --resume"
    lines = made.stdout.strip().splitlines()
    assert lines[0] == (f"partial run: 3 of 4 target x pose groups finished (it stopped before its end: --limit, "
                        f"Ctrl-C or a crash); `{command}` completes it")
    page = (out / "report" / "index.html").read_text()
    banner = page[page.index("<p class='partial'"):]
    assert page.index("<p class='partial'") < page.index("<nav class=\"toc\">")  # near the top, above the contents
    assert "Partial run: 3 of 4 target x pose groups finished" in banner.split("</p>")[0]
    import html

    assert html.escape(command) in banner.split("</p>")[0]
    # the command it names completes the run, and the page then has no banner
    done = runner.invoke(app, shlex.split(command)[1:] + ["-e", "serial"])
    assert done.exit_code == 0 and "complete" in done.stdout, done.output
    again = runner.invoke(app, ["report", str(out)])
    assert again.exit_code == 0 and again.stdout.startswith("wrote "), again.output
    assert "class='partial'" not in (out / "report" / "index.html").read_text()


def test_a_complete_run_has_no_banner_and_an_old_manifest_without_plan_counts_still_works(tmp_path, tiny_config):
    import json

    from fractal_match.report.partial import partial_run

    out = tmp_path / "whole"
    assert runner.invoke(app, ["run", str(tiny_config), "--out", str(out), "-e", "serial"]).exit_code == 0
    made = runner.invoke(app, ["report", str(out)])
    assert made.exit_code == 0 and made.stdout.startswith("wrote "), made.output
    assert "class='partial'" not in (out / "report" / "index.html").read_text()
    assert partial_run(out) is None
    # a partial run whose config no longer loads: the manifest's count, every group named counted
    manifest = json.loads((out / "manifest.json").read_text())
    manifest["finished"] = None
    (out / "manifest.json").write_text(json.dumps(manifest))
    (out / "config.toml").write_text("not toml [")
    state = partial_run(out)
    assert (state.done, state.planned) == (4, 4)
    del manifest["groups_planned"]
    (out / "manifest.json").write_text(json.dumps(manifest))
    assert partial_run(out).describe().startswith("partial run: 4 target x pose groups finished (")


def test_a_partial_confirmation_is_completed_by_confirm_from_its_tuning_folder(tmp_path):
    import json

    from fractal_match.report.partial import completing_command

    folder = tmp_path / "tune-confirm"
    folder.mkdir()
    assert completing_command(folder) == f"fractal-match run {folder}/config.toml --out {folder} --resume"
    (folder / "declared.json").write_text(json.dumps({"tune_folder": str(tmp_path / "my tune"), "declared": []}))
    assert completing_command(folder) == f"fractal-match confirm '{tmp_path}/my tune' --out {folder} --resume"


# --- plug-in package and version ---------------------------------------------------------------

PLUGIN = '''
import numpy as np

from fractal_match import Family, KernelSource


def half(kernel, size):
    import cv2

    small = cv2.resize(kernel, (size, size), interpolation=cv2.INTER_AREA)
    return small * 0.5 + 0.25, None


HALF = Family("half", "control", "the kernel at half contrast", (), half)
STRIPES = KernelSource("stripes", "vertical stripes: stripes:N", lambda spec, mode: np.tile(
    (np.arange(24) // 3 % 2 * 255).astype(np.uint8), (20, 1)), lambda: ["3"])
'''


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory):
    """A plug-in 'installed' as a dist-info folder (package fm-half 2.3.1) and a module."""
    import os
    import textwrap

    root = tmp_path_factory.mktemp("plugin")
    info = root / "fm_half-2.3.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fm-half\nVersion: 2.3.1\n")
    (info / "entry_points.txt").write_text("[fractal_match.families]\nhalf = fm_half:HALF\n\n"
                                           "[fractal_match.kernels]\nstripes = fm_half:STRIPES\n")
    (root / "fm_half.py").write_text(textwrap.dedent(PLUGIN))
    return root, {**os.environ, "PYTHONPATH": str(root)}


def cli(env, *args, cwd=None):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "fractal_match", *map(str, args)], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=300)


HALF = {"kind": "family", "name": "half", "package": "fm-half", "version": "2.3.1"}
STRIPES = {"kind": "kernel source", "name": "stripes", "package": "fm-half", "version": "2.3.1"}


def test_figures_of_plugin_families_name_the_package_and_version(plugin_env, scene):
    import json

    from fractal_match.images import read_png_metadata

    _, env = plugin_env
    made = cli(env, "match", scene / "target.png", "stripes:3", "--family", "half", "--family", "orbit-trap",
               "-m", "ccoeff_normed", "--out", scene / "m")
    assert made.returncode == 0, made.stderr
    assert json.loads(read_png_metadata(scene / "m" / "detection_grid.png")["plugins"]) == [HALF, STRIPES]
    gallery = cli(env, "fractalize", scene / "kernel.png", "--gallery", "--out", scene / "g.png")
    assert gallery.returncode == 0, gallery.stderr
    assert json.loads(read_png_metadata(scene / "g.png")["plugins"]) == [HALF]  # every family is shown
    one = cli(env, "fractalize", scene / "kernel.png", "--family", "half", "--out", scene / "t.png")
    assert one.returncode == 0, one.stderr
    assert json.loads(read_png_metadata(scene / "t.png")["plugins"]) == [HALF]
    # built-ins only: the key is there and the list is empty (nothing came from a plug-in)
    plain = cli(env, "match", scene / "target.png", scene / "kernel.png", "--family", "orbit-trap", "--out", scene / "b")
    assert plain.returncode == 0, plain.stderr
    assert json.loads(read_png_metadata(scene / "b" / "detection_grid.png")["plugins"]) == []


def test_a_run_manifest_and_its_report_name_the_plugins_used(plugin_env, tmp_path):
    import json

    from fractal_match.images import read_png_metadata

    _, env = plugin_env
    config = tmp_path / "p.toml"
    config.write_text(TINY.replace('family = "none"', 'family = "none"\n[[variants]]\nfamily = "half"'))
    run = cli(env, "run", config, "--out", tmp_path / "run", "-e", "serial")
    assert run.returncode == 0, run.stderr
    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    assert manifest["plugins"] == [HALF]
    report = cli(env, "report", tmp_path / "run")
    assert report.returncode == 0, report.stderr
    for figure in ("hit_rate.png", "gallery.png"):
        assert json.loads(read_png_metadata(tmp_path / "run" / "report" / figure)["plugins"]) == [HALF]
    config.write_text(TINY)
    plain = cli(env, "run", config, "--out", tmp_path / "plain", "-e", "serial")
    assert plain.returncode == 0, plain.stderr
    assert json.loads((tmp_path / "plain" / "manifest.json").read_text())["plugins"] == []


def test_a_plugin_without_distribution_metadata_is_unknown():
    from importlib.metadata import EntryPoint

    from fractal_match._registry import _package

    point = EntryPoint("half", "fm_half:HALF", "fractal_match.families")  # read from no distribution
    assert point.dist is None
    assert _package(point) == {"package": "unknown", "version": "unknown"}

    class Broken:
        @property
        def name(self):
            raise ValueError("no metadata")

    class Point:
        dist = Broken()

    assert _package(Point()) == {"package": "unknown", "version": "unknown"}


def test_a_resume_under_other_plugin_versions_records_them(tmp_path, tiny_config):
    import json

    from fractal_match.experiments.config import load_config
    from fractal_match.experiments.runs import run_experiment

    out = tmp_path / "r"
    run_experiment(load_config(tiny_config), out, executor="serial", limit=1)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["plugins"] == []
    run_experiment(load_config(tiny_config), out, resume=True, executor="serial", limit=1)
    assert "plugins" not in json.loads((out / "manifest.json").read_text())["resumed"][-1]  # the same: not repeated
    manifest["plugins"] = [HALF]  # as if the run had started with the plug-in, since uninstalled
    (out / "manifest.json").write_text(json.dumps(manifest))
    run_experiment(load_config(tiny_config), out, resume=True, executor="serial", limit=1)
    assert json.loads((out / "manifest.json").read_text())["resumed"][-1]["plugins"] == []


# --- match --box -------------------------------------------------------------------------------

@pytest.mark.parametrize("text, box", [("30,20,20,16", (30, 20, 20, 16)), ("30 20 20 16", (30, 20, 20, 16)),
                                       (" 30, 20,  20 ,16", (30, 20, 20, 16)), ("1.5,2,3.25,4", (1.5, 2, 3.25, 4))])
def test_a_box_is_four_numbers_with_commas_or_spaces(text, box):
    from fractal_match.cli.workflows import parse_box

    assert parse_box(text) == box


@pytest.mark.parametrize("args, message", [
    (["--box", "1,2,3"], "error: --box '1,2,3': needs four numbers x,y,w,h (allowed: e.g. --box 179,76,88,102)"),
    (["--box", "1,2,x,4"], "error: --box '1,2,x,4': 'x' is not a number (allowed: four numbers x,y,w,h)"),
    (["--box", "1,2,inf,4"], "error: --box '1,2,inf,4': 'inf' is not a finite number (allowed: four numbers x,y,w,h)"),
    (["--box", "1,2,0,4"], "error: --box '1,2,0,4': width 0 and height 4 must be positive (allowed: w > 0, h > 0)"),
    (["--box", "70,20,20,16"], "error: --box 70,20,20,16 is not inside {d}/target.png (80 x 60 px; allowed: x >= 0, "
                               "y >= 0, x + w <= 80, y + h <= 60)"),
    (["--box", "-1,20,20,16"], "is not inside {d}/target.png (80 x 60 px;"),
    (["--hit", "iou"], "error: --hit iou needs --box X,Y,W,H (the true box it judges by)"),
    (["--box", "30,20,20,16", "--hit", "iuo"], "error: --hit 'iuo' is not a hit rule (allowed: center, iou)"),
])
def test_a_bad_box_is_one_line_naming_it_and_writes_nothing(scene, args, message):
    out = scene / "never"
    result = runner.invoke(app, ["match", str(scene / "target.png"), str(scene / "kernel.png"), "--out", str(out), *args])
    line = one_line_error(result)
    assert message.format(d=scene) in line, line
    assert not out.exists()


def _colour_pixels(path, colour) -> int:
    from fractal_match import load_image

    picture = load_image(path, "color")
    return int(np.all(picture == np.array(colour, np.uint8), axis=2).sum())


def test_match_box_judges_each_method_and_draws_the_truth(scene):
    import json

    from fractal_match.images import read_png_metadata
    from fractal_match.report.figures import _HIT, _TRUTH

    out = scene / "judged"
    result = runner.invoke(app, ["match", str(scene / "target.png"), str(scene / "kernel.png"), "--box", "30,20,20,16",
                                 "-m", "ccoeff_normed", "-m", "sqdiff", "--top-k", "2", "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((out / "matches.csv").open()))
    assert list(rows[0])[-3:] == ["hit", "center_error", "iou"]
    best = {r["method"]: r for r in rows if r["rank"] == "1"}
    for method in ("TM_CCOEFF_NORMED", "TM_SQDIFF"):  # the crop found where it was cut
        assert (best[method]["hit"], best[method]["center_error"], best[method]["iou"]) == ("1", "0.000", "1.000")
    second = [r for r in rows if r["rank"] == "2"]
    assert second and all(r["hit"] in ("0", "1") for r in second)
    for r in rows:  # each row judged by the engine's own rule (the wiring; the numbers are pinned above)
        from fractal_match.engine.metrics import Truth, is_hit
        from fractal_match.geometry import Box

        hit, error, overlap = is_hit(int(r["x"]), int(r["y"]), (int(r["h"]), int(r["w"])),
                                     Truth(Box(30, 20, 20, 16), (40.0, 28.0), (20, 16)))
        assert (r["hit"], r["center_error"], r["iou"]) == (str(int(hit)), f"{error:.3f}", f"{overlap:.3f}")
    assert "centre error" in result.stdout and "hits: 2 of 2 against the true box 30,20,20,16 (center rule)" in result.stdout
    metadata = read_png_metadata(out / "detection_grid.png")
    assert json.loads(metadata["truth"]) == [30, 20, 20, 16] and metadata["hit_rule"].startswith("hit: the detection's centre")
    assert _colour_pixels(out / "detection_grid.png", _TRUTH) > 0  # the dashed true box
    assert _colour_pixels(out / "detection_grid.png", _HIT) > 0  # hits framed green
    plain = scene / "plain"
    assert runner.invoke(app, ["match", str(scene / "target.png"), str(scene / "kernel.png"), "-m", "sqdiff",
                               "--out", str(plain)]).exit_code == 0
    assert list(csv.DictReader((plain / "matches.csv").open()))[0].keys() == {
        "variant", "method", "rank", "x", "y", "w", "h", "score", "degenerate", "status"}  # unjudged: no hit columns
    assert _colour_pixels(plain / "detection_grid.png", _TRUTH) == 0 and _colour_pixels(plain / "detection_grid.png", _HIT) == 0


def test_the_hit_rule_decides_a_box_larger_than_the_detection(scene):
    """A 30 x 30 box about the crop's centre: the centre rule hits (error 0), IoU (320 / 900) misses."""
    found = {}
    for rule in ("center", "iou"):
        out = scene / rule
        result = runner.invoke(app, ["match", str(scene / "target.png"), str(scene / "kernel.png"), "--box", "25,13,30,30",
                                     "--hit", rule, "-m", "TM_CCOEFF_NORMED", "--out", str(out)])
        assert result.exit_code == 0, result.output
        (row,) = csv.DictReader((out / "matches.csv").open())
        found[rule] = (row["hit"], row["center_error"], row["iou"])
    assert found == {"center": ("1", "0.000", "0.356"), "iou": ("0", "0.000", "0.356")}


def test_a_square_variant_of_a_non_square_kernel_is_judged_by_the_kernels_box(scene, monkeypatch):
    from fractal_match.engine.detect import Detection
    from fractal_match.engine.metrics import Truth, is_hit
    from fractal_match.geometry import Box

    judged = []
    original = Detection.judge
    monkeypatch.setattr(Detection, "judge", lambda self, truth: (judged.append(truth), original(self, truth))[1])
    out = scene / "family"
    result = runner.invoke(app, ["match", str(scene / "target.png"), str(scene / "kernel.png"), "--family", "droste",
                                 "--box", "30,20,20,16", "--hit", "iou", "-m", "sqdiff", "--out", str(out)])
    assert result.exit_code == 0, result.output
    (row,) = [r for r in csv.DictReader((out / "matches.csv").open()) if r["variant"] == "droste"]
    assert (row["w"], row["h"]) == ("20", "20")  # the template is square, the kernel 20 x 16
    truth = Truth(Box(30, 20, 20, 16), (40.0, 28.0), (20, 16), "iou", footprint=(20, 16))
    assert judged == [truth]
    hit, error, overlap = is_hit(int(row["x"]), int(row["y"]), (20, 20), truth)
    assert (row["hit"], row["center_error"], row["iou"]) == (str(int(hit)), f"{error:.3f}", f"{overlap:.3f}")
    # by hand: the 20 x 20 template stands for the 20 x 16 box 2 px below its top edge
    from fractal_match.geometry import iou

    x, y = int(row["x"]), int(row["y"])
    assert float(row["iou"]) == pytest.approx(iou((x, y + 2, 20, 16), (30, 20, 20, 16)), abs=5e-4)
    assert row["hit"] == str(int(iou((x, y + 2, 20, 16), (30, 20, 20, 16)) > 0.5))
