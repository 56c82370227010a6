"""Faults that must lose nothing: concurrent writers, dead workers, a full disk."""

import errno
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from fractal_match.experiments.config import load_config
from fractal_match.experiments.executors import ExecutorError
from fractal_match.experiments.cases import ROW_COLUMNS
from fractal_match.experiments.plan import make_plan
from fractal_match.experiments.runs import run_experiment
from fractal_match.experiments.store import RunError, RunStore
from test_runs import rows_without_timing

CONFIG = """
name = "faults"
kernels = ["crop"]
[targets]
annotations = ["coins/coin-3", "chelsea/nose", "astronaut/face"]
[transforms]
scales = [0.9, 1.0, 1.1]
rotations = [0, 30]
[[variants]]
family = "none"
[[variants]]
family = "orbit-trap"
[matching]
methods = ["TM_SQDIFF", "TM_CCOEFF_NORMED"]
"""


@pytest.fixture()
def config_path(tmp_path):
    path = tmp_path / "faults.toml"
    path.write_text(CONFIG)
    return path


@pytest.fixture()
def reference(tmp_path, config_path):
    folder = tmp_path / "reference"
    run_experiment(load_config(config_path), folder, executor="serial")
    return folder


def test_a_second_run_process_on_the_same_folder_is_refused(tmp_path, config_path):
    # This process holds the folder open for writing (as a running `fractal-match run` does);
    # a run started meanwhile in another process must be refused, whatever the timing.
    folder = tmp_path / "shared"
    config = load_config(config_path)
    with RunStore(folder, make_plan(config), ROW_COLUMNS):
        second = subprocess.run([sys.executable, "-m", "fractal_match", "run", str(config_path), "--out", str(folder),
                                 "--resume", "-e", "serial"], capture_output=True, text=True)
    assert second.returncode == 1
    assert second.stderr.strip().splitlines() == [f"error: {folder}: another run is writing this folder (its lock is held)"]
    after = subprocess.run([sys.executable, "-m", "fractal_match", "run", str(config_path), "--out", str(folder),
                            "--resume", "-e", "serial"], capture_output=True, text=True)
    assert after.returncode == 0, after.stderr  # the lock goes with the writer


def test_a_killed_worker_is_reported_and_the_run_resumes(tmp_path, config_path, reference):
    config = load_config(config_path)
    folder = tmp_path / "worker"

    def kill_a_worker(done, total, rows):
        if done == 2:  # after two groups: kill one worker process of the pool
            children = subprocess.run(["pgrep", "-P", str(os.getpid())], capture_output=True, text=True).stdout.split()
            workers = []
            for child in children:  # the forkserver's children are the workers
                workers += subprocess.run(["pgrep", "-P", child], capture_output=True, text=True).stdout.split()
            assert workers, "no worker process found"
            os.kill(int(workers[0]), signal.SIGKILL)

    with pytest.raises(ExecutorError, match="a worker process died"):
        run_experiment(config, folder, executor="processes", workers=2, progress=kill_a_worker)
    summary = run_experiment(config, folder, resume=True, executor="serial")
    assert summary["complete"]
    assert rows_without_timing(folder) == rows_without_timing(reference)


def test_a_full_disk_stops_the_run_with_a_clear_error_and_a_resumable_folder(tmp_path, config_path, reference, monkeypatch):
    """The disk fills half-way through writing a group: a torn line is left behind, the run stops
    with one clear error, and --resume repairs the tail and finishes with the right rows."""
    import builtins

    import fractal_match.experiments.store as store

    config = load_config(config_path)
    folder = tmp_path / "full"
    appends = {"n": 0}

    class FullDisk:
        def __init__(self, handle):
            self.handle = handle

        def write(self, text):
            appends["n"] += 1
            if appends["n"] > 4:  # the header and three groups fit; the fourth is cut in the middle
                self.handle.write(text[: len(text) // 2])
                self.handle.flush()
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.handle.write(text)

        def __getattr__(self, name):
            return getattr(self.handle, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

    real_open = builtins.open
    def fake_open(path, *args, **kwargs):
        handle = real_open(path, *args, **kwargs)
        return FullDisk(handle) if str(path).endswith("results.csv") else handle

    monkeypatch.setattr(store, "open", fake_open, raising=False)
    with pytest.raises(RunError, match="results.csv: cannot append \\(No space left on device\\).*--resume"):
        run_experiment(config, folder, executor="serial")
    monkeypatch.undo()
    assert not (folder / "results.csv").read_bytes().endswith(b"\n")  # a torn line is left behind
    summary = run_experiment(config, folder, resume=True, executor="serial")
    assert summary["complete"] and summary["done_before"] == 3 and summary["repaired_bytes"] > 0
    assert rows_without_timing(folder) == rows_without_timing(reference)


def test_an_unwritable_results_file_is_a_clear_error(tmp_path, config_path):
    config = load_config(config_path)
    folder = tmp_path / "unwritable"
    run_experiment(config, folder, executor="serial", limit=1)
    (folder / "results.csv").unlink()
    (folder / "results.csv").mkdir()  # now it cannot be opened for appending, even by root
    with pytest.raises(RunError, match="results.csv"):
        run_experiment(config, folder, resume=True, executor="serial")


def test_repeated_sigkill_at_random_moments_then_resume_equals_an_uninterrupted_run(tmp_path, config_path, reference):
    import random

    rng = random.Random(20261122)  # seeded: the same moments every run
    folder = tmp_path / "crashy"
    command = [sys.executable, "-m", "fractal_match", "run", str(config_path), "--out", str(folder), "-e", "serial"]
    for attempt in range(4):
        process = subprocess.Popen(command + (["--resume"] if attempt else []), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.5, 2.5))  # start-up takes about a second: some kills land before, most during
        process.send_signal(signal.SIGKILL)
        process.wait()
    resume = ["--resume"] if (folder / "manifest.json").exists() else []
    finished = subprocess.run(command + resume, capture_output=True, text=True)
    assert finished.returncode == 0, finished.stderr
    assert rows_without_timing(folder) == rows_without_timing(reference)


# --- a kill in the middle of an atomic write leaves its temporary file: the folder still resumes --

def _run(config_path, folder, *options):
    return subprocess.run([sys.executable, "-m", "fractal_match", "run", str(config_path), "--out", str(folder),
                           "-e", "serial", *options], capture_output=True, text=True)


@pytest.mark.parametrize("resume", [False, True])
def test_a_run_killed_while_writing_its_config_starts_again_with_or_without_resume(tmp_path, config_path, reference,
                                                                                    resume):
    folder = tmp_path / "torn"
    folder.mkdir()
    (folder / ".config.toml.ab12cd.tmp").write_text('name = "fau')  # all a kill left: a torn config copy
    done = _run(config_path, folder, *(["--resume"] if resume else []))
    assert done.returncode == 0, done.stderr
    assert "cleaned: removed 1 temporary file(s) that an interrupted write left" in done.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["config.toml", "manifest.json", "results.csv"]
    assert json.loads((folder / "manifest.json").read_text())["leftovers_removed"] == 1
    assert rows_without_timing(folder) == rows_without_timing(reference)


def test_a_started_run_with_torn_temporary_files_resumes_and_counts_them(tmp_path, config_path, reference):
    folder = tmp_path / "torn"
    run_experiment(load_config(config_path), folder, executor="serial", limit=2)
    for name in (".manifest.json.x1y2z3.tmp", ".results.csv.q_9x2k.tmp", ".declared.json.abcdefgh.tmp"):
        (folder / name).write_bytes(b"{")
    refused = _run(config_path, folder)  # without --resume: the run is there, and says how to continue it
    assert refused.returncode == 1 and "already holds a run (use --resume" in refused.stderr
    done = _run(config_path, folder, "--resume")
    assert done.returncode == 0, done.stderr
    assert "cleaned: removed 3 temporary file(s)" in done.stderr
    assert not [p for p in folder.iterdir() if p.name.endswith(".tmp")]
    record = json.loads((folder / "manifest.json").read_text())["resumed"]
    assert len(record) == 1 and record[0]["leftovers_removed"] == 3 and record[0]["dropped_rows"] == 0
    assert rows_without_timing(folder) == rows_without_timing(reference)


def test_a_resume_is_on_record_even_when_it_does_not_finish(tmp_path, config_path):
    folder = tmp_path / "partial"
    config = load_config(config_path)
    run_experiment(config, folder, executor="serial", limit=1)
    (folder / ".manifest.json.abc123.tmp").write_bytes(b"{")
    summary = run_experiment(config, folder, resume=True, executor="serial", limit=1)
    assert not summary["complete"] and summary["leftovers_removed"] == 1
    record = json.loads((folder / "manifest.json").read_text())["resumed"]
    assert len(record) == 1 and record[0]["leftovers_removed"] == 1


def test_a_resume_refused_for_another_config_leaves_the_folder_as_it_is(tmp_path, config_path):
    folder = tmp_path / "other"
    config = load_config(config_path)
    run_experiment(config, folder, executor="serial", limit=1)
    (folder / ".manifest.json.abc123.tmp").write_bytes(b"{")
    before = sorted(p.name for p in folder.iterdir())
    other = config.__class__(**{**config.__dict__, "seed": 99})
    with pytest.raises(RunError, match="made from a different config"):
        run_experiment(other, folder, resume=True, executor="serial")
    assert sorted(p.name for p in folder.iterdir()) == before


@pytest.mark.parametrize("name", [".config.toml.tmp", ".notes.txt.ab12cd.tmp", "config.toml.ab12cd.tmp", "notes.txt",
                                  ".config.toml.old.tmp", ".report.ab12cd.tmp", ".lock.ab12cd.tmp"])
def test_files_that_no_write_of_the_run_made_are_still_refused(tmp_path, config_path, name):
    folder = tmp_path / "other"
    folder.mkdir()
    (folder / name).write_text("mine")
    for options in ((), ("--resume",)):
        refused = _run(config_path, folder, *options)
        assert refused.returncode == 1
        assert refused.stderr.strip().splitlines() == [
            f"error: {folder}: is not a run folder (it holds {name}); choose an empty or new --out"]
    assert sorted(p.name for p in folder.iterdir()) == [name]  # nothing removed, nothing added
