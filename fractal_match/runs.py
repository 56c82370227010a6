"""Running an experiment: a config's unfinished groups, on an executor, into a run folder."""

from __future__ import annotations

import time
from pathlib import Path
from functools import partial

from ._errors import ConfigError, FractalMatchError
from .config import Config
from .datasets import ImageSizes, check_annotation, check_pair, find_annotation, load_annotations
from .executors import execute
from .experiment import ROW_COLUMNS, count_cases, expand, group_row_count, run_groups, selected_refs
from .images import load_image
from .progress import Progress
from .store import RunStore


def check_inputs(config: Config) -> None:
    """Read what a run of `config` will read, before anything is written: every target's image
    and kernel file decodes, and every box it crops or scores lies inside its image with an area.
    The first problem is a ConfigError that names the file, the row or object, and the box."""
    sizes = ImageSizes()
    annotations = None
    for ref in selected_refs(config):
        if ref.kind == "annotation":
            annotations = load_annotations() if annotations is None else annotations
            check_annotation(find_annotation(ref.id, annotations), sizes)
        elif ref.kind == "pair":
            check_pair(ref.pair, sizes)
    for kernel in config.kernels:
        if Path(kernel).is_absolute():  # an image file (the config resolves those; named kernels load there)
            try:
                load_image(kernel, "unchanged")
            except FractalMatchError as exc:
                raise ConfigError(f"{config.source or config.name}: field 'kernels': {exc}") from None


def run_experiment(config: Config, out, resume: bool = False, executor: str = "processes", workers: int | None = None,
                   scheduler: str | None = None, limit: int | None = None, progress=None, batch: int = 1,
                   on_open=None) -> dict:
    """Run every unfinished group of `config` into the run folder `out`.

    `limit` runs at most that many groups this time (resume later for the rest); `batch` groups go
    to a worker at a time. `on_open(folder)`, if given, is called once the folder is open (locked,
    config and manifest written) and before any group runs. `progress`, if
    given, is called as progress(groups_done, groups_total, rows) after each group. Returns a
    summary: groups and cases in all, done before, run now, and the folder.
    """
    if any(v.family == "pnet-detector" for v in config.variants):
        from .cnn.units import require_jax

        require_jax("the pnet-detector variant (it runs the MTCNN network)")
    check_inputs(config)
    groups = expand(config)
    rows_per_group = group_row_count(config)
    with RunStore(out, config, ROW_COLUMNS, resume=resume, group_rows=rows_per_group) as store:
        if on_open is not None:
            on_open(store.folder)
        todo = [g for g in groups if g.id not in store.done]
        done_before = len(groups) - len(todo)
        if limit is not None:
            todo = todo[:limit]
        finished = done_before
        if progress is not None:
            progress(finished, len(groups), [])
        batches = [todo[i : i + batch] for i in range(0, len(todo), batch)]
        for _, rows in execute(partial(run_groups, config), batches, executor, workers, scheduler):
            store.append(rows)
            finished += 1
            if progress is not None:
                progress(finished, len(groups), rows)
        complete = finished == len(groups)
        if complete:
            store.finish(cases=count_cases(config, groups)[0], groups=len(groups))
        return {"folder": str(store.folder), "groups": len(groups), "done_before": done_before, "ran": finished - done_before,
                "complete": complete, "repaired_bytes": store.repaired, "dropped_rows": store.dropped,
                "leftovers_removed": store.leftovers}


def run_progress(progress: Progress, config: Config):
    """A run's progress callback (see :func:`fractal_match.runs.run_experiment`): a step over
    the run's groups, noting template matches per second (the unit of throughput everywhere:
    one template against one target, all six maps). The step opens at the first call, once the
    run folder is open, so that an error before it prints alone."""
    cases, matches = count_cases(config)
    per_row = matches / max(1, cases * len(config.methods))  # template matches behind one result row
    state: dict = {}

    def report(done: int, total: int, rows: list) -> None:
        if "task" not in state:
            state.update(task=progress.start(f"{config.name}: groups", total), started=time.perf_counter(), rows=0)
        state["rows"] += len(rows)
        elapsed = max(time.perf_counter() - state["started"], 1e-9)
        note = f"{state['rows'] * per_row / elapsed:,.0f} template matches/s" if state["rows"] else ""
        state["task"].update(completed=done, total=total, note=note)
        if done == total:
            state["task"].close()

    return report
