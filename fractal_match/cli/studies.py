"""`fractal-match tune` and `fractal-match confirm`: a parameter search on the tune side of a
config's split, and its winners on the held-out side."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer

from .._errors import FractalMatchError
from .._terminal import progress_display
from . import Executor, Scheduler, Workers, _fail, app, check_execution

Resume = Annotated[bool, typer.Option("--resume", help="Continue the search or run in --out where it stopped.")]


def _interrupted(command: str, where) -> typer.Exit:
    typer.echo(f"interrupted: finished trials and cases are saved; continue with: {command} --out {where} --resume", err=True)
    return typer.Exit(code=130)


@app.command()
def tune(
    config: Annotated[Path, typer.Argument(metavar="CONFIG", help="Experiment config (TOML) with a [split].")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Tuning folder (default: results/<name>-tune-<UTC time>).")] = None,
    trials: Annotated[Optional[int], typer.Option("--trials", "-n", min=1, max=10000, help="Trials per family (default: the config's [search] trials).")] = None,
    resume: Resume = False,
    executor: Executor = "processes",
    workers: Workers = None,
    scheduler: Scheduler = None,
):
    """Search every family's parameters, fractals and controls alike, with the same number of
    trials each (Optuna's seeded TPE), on the tune side of CONFIG's split; then write its report."""
    from ..config import load_config
    from ..report import make_report
    from ..search import tune as run_search

    check_execution(executor, workers, scheduler, resume, out)
    try:
        loaded = load_config(config)
        folder = out or Path("results") / f"{loaded.name}-tune-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}"
        with progress_display() as display:
            summary = run_search(loaded, folder, resume, executor, workers, scheduler, trials, display)
            make_report(folder, progress=display)
    except KeyboardInterrupt:
        raise _interrupted(f"fractal-match tune {config}", out or "the tuning folder printed above") from None
    except FractalMatchError as exc:
        raise _fail(str(exc)) from None
    if summary["repaired_bytes"]:
        typer.echo(f"repaired: removed a torn last line of the study journal ({summary['repaired_bytes']} bytes)", err=True)
    typer.echo(f"{folder}: {summary['trials']} trial(s), {summary['ran']} run now; {summary['best']}")
    typer.echo(f"report: {folder}/report/index.html; next: fractal-match confirm {folder}")


@app.command()
def confirm(
    tune_dir: Annotated[Path, typer.Argument(metavar="TUNE_RUN", help="A finished tuning folder made by `fractal-match tune`.")],
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Run folder (default: TUNE_RUN-confirm).")] = None,
    resume: Resume = False,
    executor: Executor = "processes",
    workers: Workers = None,
    scheduler: Scheduler = None,
):
    """Run each family's winner, the plain kernel, the one-template bank and the oracle on the
    held-out side only, with the comparisons declared before it runs; then write the report."""
    from ..confirm import confirm as run_confirm
    from ..report import make_report

    check_execution(executor, workers, scheduler, False, out)
    folder = out or tune_dir.with_name(f"{tune_dir.name}-confirm")
    try:
        with progress_display() as display:
            summary = run_confirm(tune_dir, folder, resume, executor, workers, scheduler, display)
            make_report(folder, progress=display)
    except KeyboardInterrupt:
        raise _interrupted(f"fractal-match confirm {tune_dir}", folder) from None
    except FractalMatchError as exc:
        raise _fail(str(exc)) from None
    for row in summary["declared"]:
        typer.echo(f"declared: {row['claim']} ({row['method']}): {row['first']} vs {row['second']}")
    typer.echo(f"{folder}: {summary['ran']} group(s) run now; report: {folder}/report/index.html")
