"""Batch commands: `validate` and `run` a config; `tune`, a parameter search on the tune side of a
config's split, and `confirm`, its winners on the held-out side."""

from __future__ import annotations

import shlex
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional, Sequence

import typer

from .._errors import FractalMatchError, unknown_name
from ._terminal import progress_display
from . import _fail, app


@app.command()
def validate(
    config: Annotated[Path, typer.Argument(metavar="CONFIG", help="Experiment config (TOML).")],
):
    """Check an experiment config and say how many cases and matches it expands to."""
    from ..experiments.config import load_config
    from ..experiments.plan import (describe_hit_rule, describe_instances, describe_sizing, describe_split, describe_targets,
                                    make_plan)
    from ..experiments.runs import check_inputs

    try:
        loaded = load_config(config)
        plan = make_plan(loaded)
        check_inputs(plan)
        split = describe_split(loaded) if loaded.split is not None else []
        if loaded.split is not None and loaded.search is not None and loaded.split.side is None:
            from ..search.study import NOT_TUNED, families

            found = families(loaded)
            split.append("search on the tune side, trials per study: " + ", ".join(f"{f.name} {f.budget} ({f.sampler}" + (f", {f.startup} random)" if f.sampler == "tpe" else ")")
                                                                            for f in found)
                         + "; not tuned: "
                         + (", ".join(v.name for v in loaded.variants if v.family in NOT_TUNED) or "nothing"))
    except FractalMatchError as exc:
        raise _fail(str(exc)) from None
    typer.echo(f"{config}: valid (config hash {loaded.digest})")
    typer.echo(f"  {len(plan.groups)} target x pose groups, {len(loaded.kernels)} kernel(s), {len(loaded.variants)} variant(s), "
               f"{len(loaded.methods)} method(s)")
    typer.echo(f"  {plan.cases} cases, {plan.rows} result rows, {plan.matches} template matches")
    for line in describe_targets(loaded, plan.targets) + [describe_hit_rule(loaded, plan.targets), describe_sizing(loaded),
                                                         describe_instances(loaded)]:
        typer.echo(f"  {line}")
    for line in split:
        typer.echo(f"  {line}")


def check_execution(executor: str, workers: int | None, scheduler: str | None, resume: bool, out) -> None:
    """The options every batch command shares, checked alike."""
    from ..experiments.executors import EXECUTORS

    if executor not in EXECUTORS:
        raise _fail(unknown_name("executor", executor, EXECUTORS))
    if workers is not None and not 1 <= workers <= 1024:
        raise _fail(f"--workers {workers} is out of range (allowed: 1 to 1024)")
    if resume and out is None:
        raise _fail("--resume needs --out FOLDER (the run to continue)")
    if scheduler is not None and executor != "dask":
        raise _fail("--scheduler needs --executor dask")


Executor = Annotated[str, typer.Option("--executor", "-e", help="serial, processes (default) or dask.")]
Workers = Annotated[Optional[int], typer.Option("--workers", "-w", help="Worker processes (default: one per core).")]
Scheduler = Annotated[Optional[str], typer.Option("--scheduler", help="Join this Dask scheduler (tcp://host:port) instead of starting one.")]


def resume_command(command: str, arguments: Sequence, folder, options: Sequence[tuple[str, object]] = (),
                   before: Sequence[str] = ()) -> str:
    """The command line that continues an interrupted batch command, every word shell-quoted:
    ``fractal-match [BEFORE] COMMAND ARGUMENTS --out FOLDER --resume`` and then each (flag, value)
    of `options` (a value of True is a flag alone)."""
    words = ["fractal-match", *before, command, *map(str, arguments), "--out", str(folder), "--resume"]
    for flag, value in options:
        words += [flag] if value is True else [flag, str(value)]
    return " ".join(shlex.quote(word) for word in words)


def given_options(ctx: typer.Context, skip: Sequence[str] = ("out", "resume")) -> list[tuple[str, object]]:
    """The options of `ctx`'s command that were given (on the command line or through the
    environment, not left at their defaults), by their long flags, in the command's order."""
    found: list[tuple[str, object]] = []
    for param in ctx.command.params:
        source = ctx.get_parameter_source(param.name)
        if param.param_type_name != "option" or param.name in skip or getattr(source, "name", None) not in (
                "COMMANDLINE", "ENVIRONMENT"):
            continue
        flag, value = max(param.opts, key=len), ctx.params[param.name]
        if param.is_flag:
            found += [(flag, True)] if value else []
        else:
            found += [(flag, v) for v in value] if param.multiple else [(flag, value)]
    return found


def _interrupted(ctx: typer.Context, arguments: Sequence, folder, saved: str = "trials and cases") -> typer.Exit:
    """Ctrl-C in a batch command: what is kept, and the command that continues it with every
    option that was given (exit 130)."""
    if folder is None:  # stopped before its folder was chosen: nothing was written
        typer.echo("interrupted before anything ran; nothing is saved", err=True)
        return typer.Exit(code=130)
    hint = resume_command(ctx.info_name, arguments, folder, given_options(ctx), _before(ctx))
    typer.echo(f"interrupted: finished {saved} are saved; continue with: {hint}", err=True)
    return typer.Exit(code=130)


def _failed(ctx: typer.Context, exc: FractalMatchError, arguments: Sequence, folder) -> typer.Exit:
    """A batch command's error line; after an error that keeps the finished work (a worker died,
    an append failed) it ends with the command that continues, every option repeated."""
    if not exc.resumable or folder is None:
        return _fail(str(exc))
    return _fail(f"{exc}: {resume_command(ctx.info_name, arguments, folder, given_options(ctx), _before(ctx))}")


def _before(ctx: typer.Context) -> list[str]:
    """The options given before the command (``fractal-match -v run ...``)."""
    return ["--verbose"] if ctx.parent is not None and ctx.parent.params.get("verbose") else []


@app.command()
def run(
    ctx: typer.Context,
    config: Annotated[Path, typer.Argument(metavar="CONFIG", help="Experiment config (TOML).")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Run folder (default: results/<name>-<UTC time>).")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out, skipping finished cases.")] = False,
    executor: Executor = "processes",
    workers: Workers = None,
    scheduler: Scheduler = None,
    limit: Annotated[Optional[int], typer.Option("--limit", help="Run at most this many target x pose groups now (resume later).")] = None,
):
    """Run an experiment: every case of CONFIG, results appended to a run folder as they finish."""
    from datetime import datetime, timezone

    from ..experiments.config import load_config
    from ..experiments.plan import make_plan
    from ..experiments.runs import run_experiment, run_progress

    folder = out
    try:
        loaded = load_config(config)
        check_execution(executor, workers, scheduler, resume, out)
        if limit is not None and limit < 1:
            raise _fail(f"--limit {limit} is out of range (allowed: 1 or more)")
        folder = out or Path("results") / f"{loaded.name}-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}"
        plan = make_plan(loaded)
        started = time.perf_counter()
        with progress_display() as display:
            summary = run_experiment(plan, folder, resume, executor, workers, scheduler, limit,
                                     progress=run_progress(display, plan))
    except KeyboardInterrupt:
        raise _interrupted(ctx, [config], folder, "cases") from None
    except FractalMatchError as exc:
        raise _failed(ctx, exc, [config], folder) from None
    if summary["repaired_bytes"] or summary["dropped_rows"]:
        typer.echo(f"repaired: removed a torn last line ({summary['repaired_bytes']} bytes) and "
                   f"{summary['dropped_rows']} row(s) of unfinished groups; those groups ran again", err=True)
    _report_leftovers(summary)
    state = "complete" if summary["complete"] else f"partial ({summary['done_before'] + summary['ran']} of {summary['groups']} groups)"
    typer.echo(f"{summary['folder']}: {state}; {summary['ran']} group(s) run now, {summary['done_before']} done before; "
               f"{summary['cases']} cases in all ({time.perf_counter() - started:.1f} s)")
    if not summary["complete"]:
        typer.echo(f"continue with: {resume_command('run', [config], folder, given_options(ctx), _before(ctx))}")


def _report_leftovers(summary: dict) -> None:
    if summary.get("leftovers_removed"):
        typer.echo(f"cleaned: removed {summary['leftovers_removed']} temporary file(s) that an interrupted write left",
                   err=True)


Resume = Annotated[bool, typer.Option("--resume", help="Continue the search or run in --out where it stopped.")]


@app.command()
def tune(
    ctx: typer.Context,
    config: Annotated[Path, typer.Argument(metavar="CONFIG", help="Experiment config (TOML) with a [split].")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Tuning folder (default: results/<name>-tune-<UTC time>).")] = None,
    trials: Annotated[Optional[int], typer.Option("--trials", "-n", help="Trials per family (default: the config's [search] trials).")] = None,
    resume: Resume = False,
    executor: Executor = "processes",
    workers: Workers = None,
    scheduler: Scheduler = None,
):
    """Search every family's parameters, fractals and controls alike, with the same number of
    trials each (Optuna's seeded TPE), on the tune side of CONFIG's split; then write its report."""
    from ..experiments.config import load_config
    from ..report import make_report
    from ..search.study import tune as run_search

    check_execution(executor, workers, scheduler, resume, out)
    if trials is not None and not 1 <= trials <= 10000:
        raise _fail(f"--trials {trials} is out of range (allowed: 1 to 10000)")
    folder = out
    try:
        loaded = load_config(config)
        folder = out or Path("results") / f"{loaded.name}-tune-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}"
        with progress_display() as display:
            summary = run_search(loaded, folder, resume, executor, workers, scheduler, trials, display)
            make_report(folder, progress=display)
    except KeyboardInterrupt:
        raise _interrupted(ctx, [config], folder) from None
    except FractalMatchError as exc:
        raise _failed(ctx, exc, [config], folder) from None
    if summary["repaired_bytes"]:
        typer.echo(f"repaired: removed a torn last line of the study journal ({summary['repaired_bytes']} bytes)", err=True)
    _report_leftovers(summary)
    typer.echo(f"{folder}: {summary['trials']} trial(s), {summary['ran']} run now; {summary['best']}")
    typer.echo(f"report: {folder}/report/index.html; next: fractal-match confirm {folder}")


@app.command()
def confirm(
    ctx: typer.Context,
    tune_dir: Annotated[Path, typer.Argument(metavar="TUNE_RUN", help="A finished tuning folder made by `fractal-match tune`.")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Run folder (default: TUNE_RUN-confirm).")] = None,
    on: Annotated[Optional[Path], typer.Option("--on", metavar="CONFIG", help="Run the frozen winners on this config's objects instead (new photos, none in the search; no [split]): its targets, poses, evaluation and [confirmation].")] = None,
    resume: Resume = False,
    executor: Executor = "processes",
    workers: Workers = None,
    scheduler: Scheduler = None,
):
    """Run each family's winner, the plain kernel, the one-template bank and the oracle on the
    held-out side only (or, with --on, on another config's new objects), with the comparisons
    declared before it runs; then write the report."""
    from ..search.confirm import confirm as run_confirm
    from ..report import make_report

    check_execution(executor, workers, scheduler, False, out)
    folder = out or tune_dir.resolve().with_name(f"{tune_dir.resolve().name}-confirm")
    try:
        with progress_display() as display:
            summary = run_confirm(tune_dir, folder, resume, executor, workers, scheduler, display, on=on)
            make_report(folder, progress=display)
    except KeyboardInterrupt:
        raise _interrupted(ctx, [tune_dir], folder) from None
    except FractalMatchError as exc:
        raise _failed(ctx, exc, [tune_dir], folder) from None
    for row in summary["declared"]:
        typer.echo(f"declared: {row['claim']} ({row['method']}): {row['first']} vs {row['second']}")
    typer.echo(f"{folder}: {summary['ran']} group(s) run now; report: {folder}/report/index.html")
