"""Whether a run folder holds a whole run or part of one (stopped by --limit, Ctrl-C or a crash),
and the command that completes it: for the report's page and for `fractal-match report`."""

from __future__ import annotations

import csv
import json
import shlex
from dataclasses import dataclass
from pathlib import Path

from .._errors import FractalMatchError


@dataclass(frozen=True)
class Partial:
    """A run that has not finished: its finished target x pose groups, the groups its plan has
    (None when neither the manifest nor the config can tell), and the command that completes it."""

    done: int
    planned: int | None
    command: str

    def describe(self) -> str:
        """One line: how much of the run is there, and how to complete it."""
        of = f" of {self.planned}" if self.planned is not None else ""
        return (f"partial run: {self.done}{of} target x pose groups finished (it stopped before its end: "
                f"--limit, Ctrl-C or a crash); `{self.command}` completes it")


def completing_command(folder: Path) -> str:
    """The command that continues the run in `folder`: a confirmation from its tuning folder (named
    in declared.json), any other run from its own copy of the config, which reads back as the
    config it was made from (the run folder checks that when it writes the copy)."""
    quoted = shlex.quote(str(folder))
    declared = folder / "declared.json"
    if declared.is_file():
        try:
            tune_folder = json.loads(declared.read_text())["tune_folder"]
            return f"fractal-match confirm {shlex.quote(str(tune_folder))} --out {quoted} --resume"
        except (OSError, ValueError, KeyError, TypeError):
            pass
    return f"fractal-match run {shlex.quote(str(folder / 'config.toml'))} --out {quoted} --resume"


def _finished_groups(results: Path, rows_per_group: int | None) -> int:
    """Groups in results.csv: those with every row, when the rows per group are known, else every
    group named (a run keeps no unfinished group once it resumes, and appends a group in one write)."""
    counts: dict[str, int] = {}
    try:
        with open(results, newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader, [])
            if "group_id" not in header:
                return 0
            index = header.index("group_id")
            for row in reader:
                if len(row) == len(header):
                    counts[row[index]] = counts.get(row[index], 0) + 1
    except OSError:
        return 0
    return sum(1 for n in counts.values() if rows_per_group is None or n == rows_per_group)


def partial_run(folder, manifest: dict | None = None, config=None) -> Partial | None:
    """The :class:`Partial` state of the run in `folder`, or None when it finished (its manifest
    records an end) or is not a run folder. `manifest` and `config` save reading them again."""
    folder = Path(folder)
    if manifest is None:
        try:
            manifest = json.loads((folder / "manifest.json").read_text())
        except (OSError, ValueError):
            return None
    if not isinstance(manifest, dict) or "finished" not in manifest or manifest["finished"] is not None:
        return None
    planned, rows_per_group = manifest.get("groups_planned"), None
    if config is None:
        from ..experiments.config import load_config

        try:
            config = load_config(folder / "config.toml")
        except FractalMatchError:
            config = None
    if config is not None:
        from ..experiments.plan import make_plan

        try:
            plan = make_plan(config)
            planned, rows_per_group = len(plan.groups), plan.rows_per_group
        except FractalMatchError:
            pass
    return Partial(_finished_groups(folder / "results.csv", rows_per_group), planned, completing_command(folder))
