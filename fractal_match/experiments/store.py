"""A run folder: the config it was made from, a manifest, and append-only results.

    RUN/
      config.toml      the config, copied byte for byte
      manifest.json    tool and library versions, git commit, machine, seed, config hash, times, counts
                       (groups_planned from the start; cases and groups once the run is complete)
      results.csv      one row per (case, method); a group's rows are appended in one write, then fsync
      .lock            held while a run writes (a second run on the folder is refused); removed when it stops

Resuming reads results.csv, repairs a torn last line left by a crash (reported, never kept),
drops the rows of any group that is incomplete, and skips the groups that are complete. A kill
during an atomic write leaves its temporary file (``.config.toml.XXXXXX.tmp``, ...): opening the
folder again, to resume or to start over, removes those and counts them in the manifest.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import json
import os
import platform
import shutil
from datetime import datetime, timezone
from pathlib import Path

from .._errors import FractalMatchError
from .._version import __version__
from .._toml import toml_text
from .config import Config, load_config
from .plan import Plan, photo_units
from ..atomic import own_leftovers, remove_leftovers, write_atomic


#: The files a run folder is made of, and those of them written atomically (whose temporary
#: files a kill can leave behind).
RUN_FILES = (".lock", "config.toml", "manifest.json", "results.csv", "report", "declared.json")
RUN_ATOMIC_FILES = ("config.toml", "manifest.json", "results.csv", "declared.json")


def foreign_files(folder: Path, files, atomic_files) -> list[str]:
    """The names in `folder` that are neither one of `files` nor a temporary file that an atomic
    write of one of `atomic_files` left behind (a kill between writing and renaming)."""
    if not folder.exists():
        return []
    own = {p.name for p in own_leftovers(folder, atomic_files)}
    return sorted(p.name for p in folder.iterdir() if p.name not in files and p.name not in own)


class RunError(FractalMatchError):
    """A run folder cannot be created, locked, resumed or written."""


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


#: What the rows mean. 3 (2026-12-06): a map with no spread over its defined positions is no
#: detection (status "flat: ...", never a hit; before, its first position was taken as the best).
#: 2 (2026-12-02): a detection's IoU is that of the box its template stands
#: for (the kernel's own box about the template's centre, engine.metrics.Truth.footprint); pairs
#: are posed by [transforms]; hit = "auto" is iou only for pairs at their own pose. 1 (runs
#: without the field): IoU of the template's footprint, pairs at their own pose only. A run or
#: search resumes only under the version it started with.
MEASURES = 3


def check_measures(folder, manifest: dict) -> None:
    """Refuse to add rows of this tool's measures to a folder started under other ones."""
    theirs = manifest.get("measures", 1)
    if theirs != MEASURES:
        raise RunError(f"{folder}: its rows were measured under version {theirs} of the measures, this tool measures "
                       f"under version {MEASURES} (flat maps are no detection; detections judged by the box the template stands "
                       "for; pairs posed), "
                       "so it cannot resume it; start a new run with another --out (report still reads this one)")


def environment(config: Config | None = None) -> dict:
    """Versions and machine, for manifests and benchmark results; with a `config`, also the
    plug-ins its variants and kernels use (``plugins``: package and version of each, [] when
    everything is built in; see :func:`fractal_match.templates.plugins_used`)."""
    import subprocess

    import cv2
    import numba
    import numpy

    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                                cwd=Path(__file__).parent).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    found = {"tool": "fractal-match", "version": __version__, "git_commit": commit, "python": platform.python_version(),
             "numpy": numpy.__version__, "opencv": cv2.__version__, "numba": numba.__version__,
             "machine": platform.machine(), "system": platform.platform(), "cpus": os.cpu_count()}
    if config is not None:
        found["plugins"] = config_plugins(config)
        found["measures"] = MEASURES
    return found


def config_plugins(config: Config) -> list[dict]:
    """The plug-ins (package and version) behind `config`'s variants and kernels."""
    from ..templates import plugins_used

    return plugins_used([v.family for v in config.variants], config.kernels)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json(path: Path, data) -> None:
    """`data` as indented, key-sorted JSON, written atomically."""
    write_atomic(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8"))


def write_config(folder: Path, config: Config) -> None:
    """The config into `folder`/config.toml: its file copied byte for byte (comments kept) when
    the copy reads back as the same config, else written out (configs made in code, and files
    whose relative paths would point elsewhere from the new folder)."""
    target = folder / "config.toml"
    if config.source is not None:
        write_atomic(target, Path(config.source).read_bytes())
        try:
            if load_config(target).digest == config.digest:
                return
        except FractalMatchError:
            pass
    write_atomic(target, config_toml(config).encode("utf-8"))


def lock_folder(folder: Path):
    """Create `folder` if needed and hold its `.lock` (exclusive, not waiting): one writer per
    folder. Returns the open lock file (give it to :func:`unlock`).

    A holder removes the lock file when it lets go, so a lock taken on a file that was removed
    meanwhile guards nothing: the lock must be on the file that is the folder's `.lock` now,
    else it is taken again (a few times) on the new one."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RunError(f"{folder}: cannot create the run folder ({exc.strerror or exc})") from None
    for _ in range(5):
        try:
            handle = open(folder / ".lock", "a+")
        except OSError as exc:
            raise RunError(f"{folder}: cannot create the run folder ({exc.strerror or exc})") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise RunError(f"{folder}: another run is writing this folder (its lock is held)") from None
        if _same_file(handle, folder / ".lock"):
            break
        handle.close()  # its holder let go and removed it while this one was opened: again
    else:
        raise RunError(f"{folder}: its lock file keeps changing (other runs start and stop on this folder)")
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def _same_file(handle, path: Path) -> bool:
    try:
        return os.fstat(handle.fileno()).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


def unlock(handle) -> None:
    """Release a folder's lock and remove its `.lock` file (removed first, while still held, and
    only if it is still the file this lock is on)."""
    if not handle.closed:
        if _same_file(handle, Path(handle.name)):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(handle.name)
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


class RunStore:
    """Open (create or resume) a run folder for `plan` and hold its lock until :meth:`close`.

    `columns` are the results file's columns; a group is complete when it has the plan's rows
    per group.
    """

    def __init__(self, folder, plan: Plan, columns, resume: bool = False):
        self.folder = Path(folder)
        self.plan = plan
        self.config = plan.config
        group_rows = plan.rows_per_group
        self.columns = tuple(columns)
        self.results = self.folder / "results.csv"
        self.manifest_path = self.folder / "manifest.json"
        self.repaired = 0  # torn bytes removed on resume
        self.dropped = 0  # rows of incomplete groups removed on resume
        self.appended = 0  # groups appended by this process
        self.leftovers = 0  # temporary files of interrupted atomic writes, removed on opening
        self.created = not self.folder.exists()  # removed again if the run fails before any result
        if self.folder.exists() and not self.folder.is_dir():
            raise RunError(f"{self.folder}: is an existing file (allowed: a run folder)")
        # A folder holds a run once its manifest exists. A run killed while starting leaves only
        # files of its own (lock, config copy, maybe results): those are reused, never refused.
        started = self.manifest_path.exists()
        foreign = foreign_files(self.folder, RUN_FILES, RUN_ATOMIC_FILES)
        if started and not resume:
            raise RunError(f"{self.folder}: already holds a run (use --resume to continue it, or choose another --out)")
        if foreign and not started:
            raise RunError(f"{self.folder}: is not a run folder (it holds {', '.join(foreign[:3])}); "
                           "choose an empty or new --out")
        self._lock = lock_folder(self.folder)
        try:
            self._open(resume and started, group_rows)
        except BaseException:
            unlock(self._lock)
            if self.created:
                shutil.rmtree(self.folder, ignore_errors=True)
            raise

    def _open(self, resume: bool, group_rows: int) -> None:
        config = self.config
        if resume:
            self.manifest = self._check_resumable()  # a folder it refuses is left as it is
        # Only the holder of the lock removes the leftovers: no other writer can be making them.
        self.leftovers = remove_leftovers(self.folder, RUN_ATOMIC_FILES)
        if resume:
            self.done = self._repair_and_scan(group_rows)
            resumed = {"at": utc_now(), "leftovers_removed": self.leftovers, "repaired_bytes": self.repaired,
                       "dropped_rows": self.dropped}
            plugins = config_plugins(config)
            if "plugins" in self.manifest and plugins != self.manifest["plugins"]:
                resumed["plugins"] = plugins  # another version installed since: its rows come from it
            self.manifest.setdefault("resumed", []).append(resumed)
            self.manifest["finished"] = None
            self._write_manifest()  # the resume is on record even if this run stops before its end
        else:
            self.manifest = {"name": config.name, "config_hash": config.digest, "seed": config.seed,
                             "started": utc_now(), "finished": None, "cases": None, "groups": None, "resumed": [],
                             "groups_planned": len(self.plan.groups), **environment(config)}
            units = photo_units(self.plan.targets)
            if units:  # the report's photo-level tests take these as the independent units
                self.manifest["units"] = units
            if self.leftovers:  # a start that was killed before its manifest existed
                self.manifest["leftovers_removed"] = self.leftovers
            write_config(self.folder, config)
            self._write_manifest()
            self._append_text(",".join(self.columns) + "\n")
            self.done = set()

    # -- resume -----------------------------------------------------------------------------------
    def _check_resumable(self) -> dict:
        try:
            manifest = json.loads(self.manifest_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise RunError(f"{self.manifest_path}: unreadable manifest ({exc})") from None
        if manifest.get("config_hash") != self.config.digest:
            files = self.config.targets.files
            changed = (f" (the boxes in {', '.join(f.path.name for f in files)} are part of it: changed since?)"
                       if files else "")
            raise RunError(f"{self.folder}: was made from a different config (hash {manifest.get('config_hash')}, "
                           f"this config {self.config.digest}){changed}; start a new run with another --out")
        check_measures(self.folder, manifest)
        if not self.results.exists():  # killed between the manifest and the header: nothing ran yet
            self._append_text(",".join(self.columns) + "\n")
        return manifest

    def _repair_and_scan(self, group_rows: int) -> set[str]:
        try:
            data = self.results.read_bytes()
        except OSError as exc:
            raise RunError(f"{self.results}: cannot be read ({exc.strerror or exc}), so the run cannot be resumed") from None
        complete = data[: data.rfind(b"\n") + 1]
        self.repaired = len(data) - len(complete)
        text = complete.decode("utf-8")
        header = ",".join(self.columns) + "\n"
        if not text and header.encode("utf-8").startswith(data):  # killed while the header was written: nothing ran
            write_atomic(self.results, header.encode("utf-8"))
            return set()
        if not text.startswith(header):
            raise RunError(f"{self.results}: does not start with the expected header")
        rows = list(csv.reader(io.StringIO(text)))[1:]
        counts: dict[str, int] = {}
        group_index = self.columns.index("group_id")
        for row in rows:
            if len(row) != len(self.columns):
                raise RunError(f"{self.results}: a row has {len(row)} fields (expected {len(self.columns)})")
            counts[row[group_index]] = counts.get(row[group_index], 0) + 1
        done = {group for group, n in counts.items() if n == group_rows}
        partial = set(counts) - done
        if partial or self.repaired:
            kept = [r for r in rows if r[group_index] in done]
            self.dropped = len(rows) - len(kept)
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            writer.writerow(self.columns)
            writer.writerows(kept)
            write_atomic(self.results, buffer.getvalue().encode("utf-8"))
        return done

    # -- writing ----------------------------------------------------------------------------------
    def _append_text(self, text: str) -> None:
        try:
            with open(self.results, "a", encoding="utf-8", newline="") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            error = RunError(f"{self.results}: cannot append ({exc.strerror or exc}); the run can be resumed "
                             "with --resume once this is fixed")
            error.resumable = True
            raise error from None

    def append(self, rows: list[dict]) -> None:
        """Append one group's rows in a single write, then flush and fsync."""
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.columns, lineterminator="\n")
        writer.writerows(rows)
        self._append_text(buffer.getvalue())
        self.appended += 1

    def _write_manifest(self) -> None:
        write_json(self.manifest_path, self.manifest)
        _fsync_dir(self.folder)

    def finish(self) -> None:
        """Record the run as complete: its end time and the plan's counts."""
        self.manifest.update({"finished": utc_now(), "cases": self.plan.cases, "groups": len(self.plan.groups)})
        self._write_manifest()

    def note_session(self, executor: str, workers: int, scheduler: str | None) -> None:
        """Record in the manifest how this session runs the groups (a resumed run adds one)."""
        self.manifest.setdefault("sessions", []).append(
            {"started": utc_now(), "executor": executor, "workers": None if scheduler else workers, "scheduler": scheduler})
        self._write_manifest()

    def close(self) -> None:
        unlock(self._lock)

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        self.close()
        if kind is not None and self.created and self.appended == 0:
            # It never started (an executor that cannot start, a scheduler that does not answer,
            # an interrupt before the first result): leave nothing, so the same command can be
            # repeated as it was, without --resume.
            shutil.rmtree(self.folder, ignore_errors=True)


def config_toml(config: Config) -> str:
    """The config as TOML that :func:`load_config` reads back to an equal config (same digest):
    for configs made in code (a tuning trial's, a confirmation's), which have no source file."""
    data = config.canonical()
    targets = {k: v for k, v in data["targets"].items() if v not in (None, [])}
    for key, value in targets.items():  # an object file's labels or categories: none named means every one
        if isinstance(value, dict):
            targets[key] = {k: v for k, v in value.items() if not (k in ("labels", "categories") and v == [])}
    matching = {k: data[k] for k in ("methods", "color", "template_masks")}
    tables = {"targets": targets, "transforms": {"scales": data["scales"], "rotations": data["rotations"]},
              "matching": matching, "evaluation": data["evaluation"]}
    tables.update({k: data[k] for k in ("split", "search", "confirmation") if k in data})
    variants = []
    for variant in config.variants:
        entry = {"family": variant.family, "name": variant.name}
        if variant.family == "bank":
            entry.update(rotations=list(variant.rotations), scales=list(variant.scales))
        elif variant.params:
            entry["params"] = dict(variant.params)
        entry.update({k: getattr(variant, k) for k in ("color", "template_masks") if getattr(variant, k) is not None})
        variants.append(entry)
    top = {"name": config.name, "seed": config.seed, "kernels": data["kernels"]}
    if config.kernel_files:  # where each image-file kernel is, as the config named it
        places = dict(config.kernel_paths)
        tables["kernel_files"] = {name: {"file": places[name], "sha256": digest} for name, digest in config.kernel_files}
    return toml_text(top, tables, {"variants": variants})

