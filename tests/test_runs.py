import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fractal_match.cli import app
from fractal_match.experiments.config import load_config
from fractal_match.experiments.cases import ROW_COLUMNS
from fractal_match.experiments.plan import make_plan
from fractal_match.experiments.runs import run_experiment
from fractal_match.experiments.store import RunError, RunStore

CONFIG = """
name = "tiny"
seed = 0
kernels = ["crop"]
[targets]
annotations = ["coins/coin-3", "chelsea/nose"]
[transforms]
scales = [0.9, 1.0]
rotations = [0, 30]
[[variants]]
family = "none"
[[variants]]
family = "orbit-trap"
[[variants]]
family = "bank"
rotations = [0, 30]
scales = [1.0]
[matching]
methods = ["TM_SQDIFF", "TM_CCOEFF_NORMED"]
"""


@pytest.fixture()
def config_path(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(CONFIG)
    return path


def rows_without_timing(folder: Path) -> list[str]:
    """results.csv sorted by case_id and method, without the seconds column (timing varies)."""
    with open(folder / "results.csv", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        assert tuple(header) == ROW_COLUMNS
        drop = header.index("seconds")
        rows = [",".join(r[:drop] + r[drop + 1:]) for r in reader]
    return sorted(rows)


@pytest.fixture()
def reference(tmp_path, config_path):
    folder = tmp_path / "reference"
    summary = run_experiment(load_config(config_path), folder, executor="serial")
    assert summary["complete"] and summary["ran"] == 8
    return folder


def test_a_run_folder_describes_itself(reference, config_path):
    manifest = json.loads((reference / "manifest.json").read_text())
    for key in ("version", "git_commit", "python", "numpy", "opencv", "machine", "seed", "config_hash", "started",
                "finished", "cases"):
        assert key in manifest
    assert manifest["cases"] == 8 * 3 and manifest["config_hash"] == load_config(config_path).digest
    assert (reference / "config.toml").read_text() == config_path.read_text()
    rows = list(csv.DictReader((reference / "results.csv").open()))
    assert len(rows) == 8 * 3 * 2
    assert {r["status"] for r in rows} == {"ok"}
    bank = [r for r in rows if r["variant"] == "bank"]
    assert {r["templates"] for r in bank} == {"2"}
    # the crop itself, unscaled and unturned, is found exactly
    exact = [r for r in rows if r["group_id"] == "coins/coin-3@s1r0" and r["variant"] == "none"]
    assert all(r["hit"] == "1" and (r["x"], r["y"]) == ("130", "27") for r in exact)


def test_process_executor_gives_the_same_rows(tmp_path, config_path, reference):
    folder = tmp_path / "processes"
    run_experiment(load_config(config_path), folder, executor="processes", workers=2)
    assert rows_without_timing(folder) == rows_without_timing(reference)


def test_dask_local_cluster_gives_the_same_rows(tmp_path, config_path, reference):
    pytest.importorskip("distributed")
    folder = tmp_path / "dask"
    run_experiment(load_config(config_path), folder, executor="dask", workers=2)
    assert rows_without_timing(folder) == rows_without_timing(reference)


def test_a_run_joins_an_existing_dask_scheduler(tmp_path, config_path, reference):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        folder = tmp_path / "joined"
        run_experiment(load_config(config_path), folder, executor="dask", scheduler=cluster.scheduler_address)
    assert rows_without_timing(folder) == rows_without_timing(reference)


@pytest.mark.parametrize("after_rows", [1, 18, 30])
def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path, config_path, reference, after_rows):
    folder = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-m", "fractal_match", "run", str(config_path), "--out", str(folder),
                                "--executor", "serial"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = folder / "results.csv"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if results.exists() and results.read_bytes().count(b"\n") > after_rows:
            break
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    summary = run_experiment(load_config(config_path), folder, resume=True, executor="serial")
    assert summary["complete"]
    assert rows_without_timing(folder) == rows_without_timing(reference)


def test_torn_last_line_and_half_written_group_are_repaired(tmp_path, config_path, reference):
    config = load_config(config_path)
    folder = tmp_path / "torn"
    run_experiment(config, folder, executor="serial", limit=3)
    lines = (folder / "results.csv").read_text().splitlines(keepends=True)
    half_group = lines[1 : 1 + make_plan(config).rows_per_group // 2]  # some rows of the first group again, as a fragment
    with open(folder / "results.csv", "a") as handle:
        handle.writelines(line.replace(line.split("@")[0], "chelsea/nose") for line in half_group)
        handle.write("chelsea/nose@s1r30|crop|none,chelsea/nose@s1r30,chel")  # torn: no newline
    summary = run_experiment(config, folder, resume=True, executor="serial")
    assert summary["repaired_bytes"] > 0 and summary["dropped_rows"] == len(half_group)
    assert rows_without_timing(folder) == rows_without_timing(reference)


def test_second_writer_is_refused_and_other_misuse(tmp_path, config_path, reference):
    config = load_config(config_path)
    plan = make_plan(config)
    with RunStore(tmp_path / "locked", plan, ROW_COLUMNS):
        with pytest.raises(RunError, match="another run is writing this folder"):
            RunStore(tmp_path / "locked", plan, ROW_COLUMNS, resume=True)
    with pytest.raises(RunError, match="already holds a run"):
        RunStore(reference, plan, ROW_COLUMNS)
    other = load_config(config_path).__class__(**{**config.__dict__, "seed": 99})
    with pytest.raises(RunError, match="made from a different config"):
        RunStore(reference, make_plan(other), ROW_COLUMNS, resume=True)
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "x.txt").write_text("x")
    with pytest.raises(RunError, match="is not a run folder"):
        RunStore(tmp_path / "plain", plan, ROW_COLUMNS, resume=True)
    with pytest.raises(RunError, match="is not a run folder"):
        RunStore(tmp_path / "plain", plan, ROW_COLUMNS)


def test_a_run_killed_while_starting_leaves_a_usable_folder(tmp_path, config_path, reference):
    config = load_config(config_path)
    for leftovers in ([".lock"], [".lock", "config.toml"], [".lock", "config.toml", "manifest.json"]):
        folder = tmp_path / "-".join(leftovers).replace(".", "")
        run_experiment(config, folder, executor="serial", limit=1)  # make real files to leave behind
        for name in ("results.csv", "manifest.json", "config.toml", ".lock"):
            if name not in leftovers:
                (folder / name).unlink()
        resume = "manifest.json" in leftovers
        summary = run_experiment(config, folder, resume=resume, executor="serial")
        assert summary["complete"], leftovers
        assert rows_without_timing(folder) == rows_without_timing(reference)


runner = CliRunner()


def test_cli_validate_and_run(tmp_path, config_path):
    result = runner.invoke(app, ["validate", str(config_path)])
    assert result.exit_code == 0 and "8 target x pose groups" in result.stdout and "24 cases" in result.stdout
    out = tmp_path / "cli-run"
    result = runner.invoke(app, ["run", str(config_path), "--out", str(out), "--executor", "serial", "--limit", "2"])
    assert result.exit_code == 0, result.output
    assert "partial (2 of 8 groups)" in result.stdout
    result = runner.invoke(app, ["run", str(config_path), "--out", str(out), "--executor", "serial", "--resume"])
    assert result.exit_code == 0 and "complete; 6 group(s) run now, 2 done before" in result.stdout


@pytest.mark.parametrize("args, message", [
    (["run", "{cfg}", "--executor", "threads"], "unknown executor 'threads'"),
    (["run", "{cfg}", "--resume"], "--resume needs --out"),
    (["run", "{cfg}", "--workers", "0"], "--workers 0 is out of range"),
    (["run", "{d}/missing.toml"], "missing.toml: no such file"),
    (["validate", "{d}/bad.toml"], "invalid TOML"),
    (["run", "{cfg}", "--out", "{cfg}"], "is an existing file"),
])
def test_cli_run_errors_are_one_line(tmp_path, config_path, args, message):
    (tmp_path / "bad.toml").write_text("name = [")
    args = [a.format(cfg=config_path, d=tmp_path) for a in args]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_a_run_expands_its_config_once(tmp_path, config_path, monkeypatch):
    """One way through a run: the command makes the plan; the runner, the run folder, the
    progress display and the summary read it, and nothing expands the config again."""
    from fractal_match.experiments import plan as plan_module

    calls = []
    groups, targets = plan_module._groups, plan_module.target_refs
    monkeypatch.setattr(plan_module, "_groups", lambda *a: calls.append("groups") or groups(*a))
    monkeypatch.setattr(plan_module, "target_refs", lambda *a: calls.append("targets") or targets(*a))
    result = CliRunner().invoke(app, ["run", str(config_path), "--out", str(tmp_path / "run"), "-e", "serial"])
    assert result.exit_code == 0, result.output
    assert calls == ["targets", "groups"]
    calls.clear()
    assert CliRunner().invoke(app, ["validate", str(config_path)]).exit_code == 0
    assert calls == ["targets", "groups"]
