"""What a newcomer met with folders, names and the command line, each fixed, each with a test.
Output folders are claimed, never silently mixed; kernel files keep the names the config gives
them; a run leaves no lock behind and records how it ran; help text reads whole."""

import csv
import json
import re

import numpy as np
import pytest
from typer.testing import CliRunner

from fractal_match import save_image
from fractal_match.cli import app
from fractal_match.experiments.config import load_config
from fractal_match.experiments.runs import run_experiment

runner = CliRunner()


@pytest.fixture()
def scene(tmp_path):
    rng = np.random.default_rng(3)
    target = rng.integers(0, 256, (60, 80)).astype(np.uint8)
    save_image(tmp_path / "target.png", target)
    save_image(tmp_path / "eye.png", target[20:36, 30:50])
    (tmp_path / "boxes.toml").write_text('[[object]]\nimage = "target.png"\nlabel = "eye"\nbox = [30, 20, 20, 16]\n'
                                         '[[object]]\nimage = "target.png"\nlabel = "spot"\nbox = [5, 30, 18, 18]\n')
    (tmp_path / "run.toml").write_text(
        'name = "own"\nkernels = ["crop", "eye.png"]\n[targets]\nannotations = "boxes.toml"\n'
        '[transforms]\nrotations = [0, 20]\n[[variants]]\nfamily = "none"\n[[variants]]\nfamily = "orbit-trap"\n'
        'params = { iterations = 20 }\n[matching]\nmethods = ["TM_SQDIFF", "TM_CCOEFF_NORMED"]\n')
    return tmp_path


def _error(result) -> str:
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception  # no traceback
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.output, result.output
    return lines[0]


def _match(scene, out, *extra):
    return runner.invoke(app, ["match", str(scene / "target.png"), str(scene / "eye.png"), "-m", "sqdiff",
                               "--out", str(out), *extra])


def test_match_refuses_a_folder_of_other_files_unless_overwrite_and_never_touches_them(scene):
    out = scene / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    line = _error(_match(scene, out))
    assert line.startswith(f"error: {out}: is not empty and not an earlier `match` output (it holds notes.txt)")
    assert "--overwrite" in line and sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert _match(scene, out, "--overwrite").exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == ["detection_grid.png", "matches.csv", "notes.txt"]
    assert (out / "notes.txt").read_text() == "my notes"


def test_overwrite_into_someone_elses_folder_removes_none_of_its_files(scene):
    """With --overwrite the folder is not the command's own: a file there with a name the command
    writes, but that it did not write this time, is the user's and stays."""
    out = scene / "figs"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "detection_grid.svg").write_text("<svg>my own drawing</svg>")
    assert _match(scene, out, "--overwrite").exit_code == 0
    assert (out / "detection_grid.svg").read_text() == "<svg>my own drawing</svg>"
    assert sorted(p.name for p in out.iterdir()) == ["detection_grid.png", "detection_grid.svg", "matches.csv",
                                                     "notes.txt"]


def test_match_reuses_its_own_folder_and_no_stale_file_survives(scene):
    out = scene / "m"
    assert _match(scene, out, "--svg").exit_code == 0
    assert sorted(p.name for p in out.iterdir()) == ["detection_grid.png", "detection_grid.svg", "matches.csv"]
    assert _match(scene, out).exit_code == 0  # the same command's folder: replaced, without --overwrite
    assert sorted(p.name for p in out.iterdir()) == ["detection_grid.png", "matches.csv"]  # the old SVG is gone


def test_report_claims_its_folder_the_same_way(scene):
    run = scene / "run"
    run_experiment(load_config(scene / "run.toml"), run, executor="serial")
    other = scene / "elsewhere"
    other.mkdir()
    (other / "paper.tex").write_text("x")
    line = _error(runner.invoke(app, ["report", str(run), "--out", str(other)]))
    assert "is not empty and not an earlier `report` output (it holds paper.tex)" in line
    assert runner.invoke(app, ["report", str(run), "--out", str(scene / "r"), "--svg"]).exit_code == 0
    assert (scene / "r" / "hit_rate.svg").is_file()
    (scene / "r" / "success_curves.png").write_bytes(b"stale")  # a figure only unposed runs have
    assert runner.invoke(app, ["report", str(run), "--out", str(scene / "r")]).exit_code == 0
    names = {p.name for p in (scene / "r").iterdir()}
    assert "hit_rate.png" in names and not {"hit_rate.svg", "success_curves.png"} & names
    # a report killed before its page, or made by an earlier version: still the report's own folder
    (scene / "r" / "index.html").unlink()
    assert runner.invoke(app, ["report", str(run), "--out", str(scene / "r")]).exit_code == 0
    page = scene / "r" / "index.html"
    page.write_text(page.read_text().replace('<meta name="generator" content="fractal-match report">', ""))
    assert runner.invoke(app, ["report", str(run), "--out", str(scene / "r")]).exit_code == 0
    # someone else's page is not
    page.write_text("<!DOCTYPE html><title>my site</title>")
    line = _error(runner.invoke(app, ["report", str(run), "--out", str(scene / "r")]))
    assert "(it holds index.html)" in line


def test_a_kernel_file_is_named_as_the_config_writes_it_and_a_finished_run_keeps_no_lock(scene, tmp_path):
    run = scene / "run"
    summary = run_experiment(load_config(scene / "run.toml"), run, executor="serial")
    assert summary["complete"]
    rows = list(csv.DictReader((run / "results.csv").open()))
    assert {r["kernel"] for r in rows} == {"crop", "eye.png"}
    assert all(str(scene) not in r["case_id"] for r in rows)  # no absolute path in any row
    assert not (run / ".lock").exists()
    manifest = json.loads((run / "manifest.json").read_text())
    assert [(s["executor"], s["workers"]) for s in manifest["sessions"]] == [("serial", 1)]
    # the run folder's config finds the file where the original config named it, by path and hash
    copied = (run / "config.toml").read_text()
    assert '[kernel_files."eye.png"]' in copied and str(scene / "eye.png") in copied
    assert load_config(run / "config.toml").digest == load_config(scene / "run.toml").digest
    # a resumed run (another session) adds its executor; the rows are the same
    again = run_experiment(load_config(run / "config.toml"), run, resume=True, executor="serial")
    assert again["ran"] == 0
    assert len(json.loads((run / "manifest.json").read_text())["sessions"]) == 2
    # the file changed since the run folder's config was written: one line, naming it
    save_image(scene / "eye.png", np.zeros((16, 20), np.uint8))
    line = _error(runner.invoke(app, ["validate", str(run / "config.toml")]))
    assert "kernel_files.eye.png.sha256" in line and "the file changed since this config was written" in line


def test_the_report_names_the_kernel_as_written(scene):
    run = scene / "run"
    run_experiment(load_config(scene / "run.toml"), run, executor="serial")
    assert runner.invoke(app, ["report", str(run)]).exit_code == 0
    page = (run / "report" / "index.html").read_text()
    assert "eye.png" in page and str(scene / "eye.png") not in page


def test_a_lock_taken_on_a_removed_lock_file_is_taken_again_on_the_new_one(tmp_path, monkeypatch):
    """The race of a lock file that is removed when its holder stops: between this run's open and
    its lock, the holder lets go and removes `.lock`, and another run creates a new one. The lock
    this run then holds is on the removed file; lock_folder must see that and lock the new file."""
    import fcntl
    import os

    from fractal_match.experiments import store

    real_flock = store.fcntl.flock
    calls = []

    def racing_flock(handle, operation):
        if not calls and operation & fcntl.LOCK_EX:  # the first lock: the file is swapped under it
            os.unlink(tmp_path / ".lock")
            (tmp_path / ".lock").write_text("")
        calls.append(operation)
        return real_flock(handle, operation)

    monkeypatch.setattr(store.fcntl, "flock", racing_flock)
    held = store.lock_folder(tmp_path)
    assert os.fstat(held.fileno()).st_ino == os.stat(tmp_path / ".lock").st_ino  # on the folder's lock file now
    assert sum(1 for c in calls if c & fcntl.LOCK_EX) == 2  # taken twice
    monkeypatch.setattr(store.fcntl, "flock", real_flock)
    with pytest.raises(store.RunError, match="another run is writing this folder"):
        store.lock_folder(tmp_path)
    store.unlock(held)
    assert not (tmp_path / ".lock").exists()


def test_unlock_removes_only_its_own_lock_file(tmp_path):
    import os

    from fractal_match.experiments import store

    held = store.lock_folder(tmp_path)
    os.unlink(tmp_path / ".lock")
    (tmp_path / ".lock").write_text("another run's\n")  # (as if the file had been replaced)
    store.unlock(held)
    assert (tmp_path / ".lock").read_text() == "another run's\n"


@pytest.mark.parametrize("spelling", ["IOU", "Iou", "iou", "CENTER"])
def test_the_hit_rule_is_taken_in_any_case(scene, spelling):
    result = _match(scene, scene / "m", "--box", "30,20,20,16", "--hit", spelling)
    assert result.exit_code == 0, result.output
    assert f"({spelling.lower()} rule)" in result.output


def test_unknown_names_get_a_did_you_mean(scene):
    line = _error(runner.invoke(app, ["match", str(scene / "target.png"), str(scene / "eye.png"), "--family", "ifs",
                                      "--set", "nmaps=6", "--out", str(scene / "m")]))
    assert "--set nmaps: no chosen family has a parameter 'nmaps' (did you mean 'n_maps'?" in line
    config = scene / "typo.toml"
    config.write_text((scene / "run.toml").read_text().replace('"orbit-trap"', '"orbittrap"'))
    line = _error(runner.invoke(app, ["validate", str(config)]))
    assert "field 'variants[1].family' 'orbittrap' is unknown (did you mean 'orbit-trap'?" in line


@pytest.mark.parametrize("source, field", [
    ('annotations = { file = "boxes.toml", labels = [] }', "targets.annotations.labels"),
    ('coco = { file = "instances.json", categories = [] }', "targets.coco.categories"),
])
def test_an_empty_selection_is_refused_not_read_as_everything(scene, source, field):
    (scene / "instances.json").write_text(
        '{"images": [{"id": 1, "file_name": "target.png"}], "categories": [{"id": 1, "name": "eye"}], '
        '"annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [30, 20, 20, 16], "iscrowd": 0}]}')
    config = scene / "empty.toml"
    config.write_text(re.sub(r'annotations = "boxes.toml"', source, (scene / "run.toml").read_text()))
    line = _error(runner.invoke(app, ["validate", str(config)]))
    assert f"field '{field}' = [] names no" in line and "leave the field out to keep every one" in line


def test_help_text_reads_in_whole_sentences():
    """In `fractal-match --help`, each command's summary is its docstring's first paragraph,
    wrapped only where the panel is full (the docstring's own line breaks made lines end early:
    "write the / detection grid"); the `families` headings are one line each."""
    import typer

    width = 100
    result = runner.invoke(app, ["--help"], terminal_width=width)
    panel = result.output.split("Commands")[1].split("╰")[0]
    lines = [line[2:-2] for line in panel.splitlines() if line.startswith("│")]
    start = len(lines[0]) - len(lines[0].split(maxsplit=1)[1])  # where the summaries' column begins
    column = len(lines[0]) - start
    for line, following in zip(lines, lines[1:]):
        if following[:start].strip():
            continue  # the next command
        next_word = following[start:].split()[0]
        assert len(line[start:].rstrip()) + 1 + len(next_word) > column, (line, following)  # the line was full
    joined = " ".join(" ".join(line.split()) for line in lines)
    for name, command in typer.main.get_command(app).commands.items():
        if not command.hidden:
            assert "\n" not in command.short_help and f"{name} {command.short_help}" in joined, name
    families = runner.invoke(app, ["families"], terminal_width=80).output
    assert "flip (control): the kernel turned 180 degrees (convolution instead of correlation)" in families


def test_help_labels_options_by_name_on_the_pinned_typer():
    """The help shows NAME (and nothing for a flag) instead of typer's Python-type labels. That
    uses two typer internals, so typer is pinned below its next release; on a typer outside the
    pin this test says so first."""
    import tomllib
    from importlib.metadata import version
    from pathlib import Path

    pyproject = tomllib.loads((Path(__file__).resolve().parent.parent / "pyproject.toml").read_text())
    pin = next(d for d in pyproject["project"]["dependencies"] if d.startswith("typer"))
    low, high = re.fullmatch(r"typer>=([\d.]+),<([\d.]+)", pin).groups()
    installed = tuple(int(p) for p in version("typer").split(".")[:2])
    assert tuple(int(p) for p in low.split(".")[:2]) <= installed < tuple(int(p) for p in high.split(".")[:2]), pin
    for command in ("match", "run", "report", "tune"):
        text = runner.invoke(app, [command, "--help"], terminal_width=200).output
        assert not re.search(r"<(bool|path|text|int|float|list\[[a-z]+\])>", text), (command, text)
    text = runner.invoke(app, ["match", "--help"], terminal_width=200).output
    assert "METHOD..." in text and "X,Y,W,H" in text and "match [OPTIONS] TARGET KERNEL" in text


def test_a_kernel_named_by_its_absolute_path_keeps_the_digest_it_had(scene, tmp_path):
    """Configs (and run folders) that named a kernel file by its absolute path were identified by
    that path; they still are, so such runs resume. A name as written is identified by its
    content instead."""
    absolute = tmp_path / "absolute.toml"
    absolute.write_text((scene / "run.toml").read_text().replace('"eye.png"', f'"{scene / "eye.png"}"')
                        .replace('"boxes.toml"', f'"{scene / "boxes.toml"}"'))
    config = load_config(absolute)
    assert "kernel_files" not in config.canonical() and config.kernels == ("crop", str(scene / "eye.png"))
    written = load_config(scene / "run.toml")
    assert [name for name, _ in written.canonical()["kernel_files"]] == ["eye.png"]


def test_a_confirmation_on_new_photos_needs_the_searchs_kernel_files(scene, tmp_path):
    from dataclasses import replace

    from fractal_match._errors import FractalMatchError
    from fractal_match.search.confirm import replication_config

    search = replace(load_config(scene / "run.toml"), split=None)
    other_folder = tmp_path / "other"
    other_folder.mkdir()
    for name in ("boxes.toml", "target.png", "run.toml"):
        (other_folder / name).write_bytes((scene / name).read_bytes())
    save_image(other_folder / "eye.png", np.full((16, 20), 9, np.uint8))  # another picture under the same name
    with pytest.raises(FractalMatchError, match="'eye.png' is not the file the search used"):
        replication_config(search, load_config(other_folder / "run.toml"), search.variants)
    (other_folder / "eye.png").write_bytes((scene / "eye.png").read_bytes())
    assert replication_config(search, load_config(other_folder / "run.toml"), search.variants).kernels == search.kernels
