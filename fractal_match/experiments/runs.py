"""Running an experiment: a plan's unfinished groups, on an executor, into a run folder."""

from __future__ import annotations

import os
import time
from functools import partial

from .._errors import ConfigError, FractalMatchError, unknown_name
from ..datasets import ImageSizes, check_annotation, check_pair
from ..images import load_image
from ..progress import Progress
from .cases import row_columns, run_groups
from .config import Config
from .executors import EXECUTORS, ExecutorError, execute
from .plan import Plan, group_files, make_plan
from .store import RunStore, config_plugins


def check_inputs(plan: Plan) -> None:
    """Read what a run of the plan will read, before anything is written: every target's image
    and kernel file decodes, and every box it crops or scores lies inside its image with an area.
    The first problem is a ConfigError that names the file, the row or object, and the box."""
    sizes = ImageSizes()
    for ref in plan.targets:
        if ref.kind == "annotation":
            check_annotation(ref.annotation, sizes)
        elif ref.kind == "pair":
            check_pair(ref.pair, sizes)
    for _, kernel in plan.config.kernel_paths:  # the image files (named kernels were loaded by the config)
        try:
            load_image(kernel, "unchanged")
        except FractalMatchError as exc:
            raise ConfigError(f"{plan.config.source or plan.config.name}: field 'kernels': {exc}") from None


def run_experiment(config: Config | Plan, out, resume: bool = False, executor: str = "processes",
                   workers: int | None = None, scheduler: str | None = None, limit: int | None = None, progress=None,
                   batch: int = 1, on_open=None) -> dict:
    """Run every unfinished group of `config` (or of a :class:`~fractal_match.experiments.plan.Plan`
    made from one) into the run folder `out`.

    `limit` runs at most that many groups this time (resume later for the rest); `batch` groups go
    to a worker at a time. `on_open(folder)`, if given, is called once the folder is open (locked,
    config and manifest written) and before any group runs. `progress`, if
    given, is called as progress(groups_done, groups_total, rows) after each group. Returns a
    summary: groups and cases in all, done before, run now, and the folder.
    """
    if executor not in EXECUTORS:  # before the folder is made
        raise ExecutorError(unknown_name("executor", executor, EXECUTORS))
    plan = config if isinstance(config, Plan) else make_plan(config)
    config = plan.config
    if any(v.family == "pnet-detector" for v in config.variants):
        from ..templates.cnn.units import require_jax

        require_jax("the pnet-detector variant (it runs the MTCNN network)")
    check_inputs(plan)
    groups = plan.groups
    with RunStore(out, plan, row_columns(plan.config), resume=resume) as store:
        store.note_session(executor, 1 if executor == "serial" else workers or os.cpu_count() or 1, scheduler)
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
        for _, rows in execute(partial(run_groups, config), batches, executor, workers, scheduler,
                               files=partial(group_files, config), plugins=config_plugins(config)):
            store.append(rows)
            finished += 1
            if progress is not None:
                progress(finished, len(groups), rows)
        complete = finished == len(groups)
        if complete:
            store.finish()
        return {"folder": str(store.folder), "groups": len(groups), "cases": plan.cases, "done_before": done_before,
                "ran": finished - done_before, "complete": complete, "repaired_bytes": store.repaired,
                "dropped_rows": store.dropped, "leftovers_removed": store.leftovers}


def run_progress(progress: Progress, plan: Plan):
    """A run's progress callback (see :func:`run_experiment`): a step over the plan's groups,
    noting template matches per second (the unit of throughput everywhere: one template against
    one target, all six maps). The step opens at the first call, once the run folder is open, so
    that an error before it prints alone."""
    per_row = plan.matches / max(1, plan.cases * len(plan.config.methods))  # template matches behind one result row
    state: dict = {}

    def report(done: int, total: int, rows: list) -> None:
        if "task" not in state:
            state.update(task=progress.start(f"{plan.config.name}: groups", total), started=time.perf_counter(), rows=0)
        state["rows"] += len(rows)
        elapsed = max(time.perf_counter() - state["started"], 1e-9)
        note = f"{state['rows'] * per_row / elapsed:,.0f} template matches/s" if state["rows"] else ""
        state["task"].update(completed=done, total=total, note=note)
        if done == total:
            state["task"].close()

    return report
