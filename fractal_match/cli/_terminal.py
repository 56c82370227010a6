"""What the command line shows on a terminal: rich progress bars and log lines on stderr.

Progress is drawn only when stderr is a terminal; otherwise (a pipe, a file, CI) nothing is
drawn and ``-v`` still logs every step as plain lines. Results go to stdout either way.
"""

from __future__ import annotations

import logging
import sys
from contextlib import contextmanager
from typing import Iterator

from rich.console import Console
from rich.progress import (
    BarColumn, MofNCompleteColumn, Progress as Bars, TextColumn, TimeElapsedColumn, TimeRemainingColumn,
)

from ..progress import Progress, Task

#: Everything the command line says about itself (progress, log lines) goes here.
STDERR = Console(stderr=True)


def on_terminal() -> bool:
    """Whether stderr is an interactive terminal (rich's own test, which honours TERM=dumb)."""
    return STDERR.is_terminal and not STDERR.is_dumb_terminal


def configure_logging(verbose: bool) -> None:
    """INFO with -v, else WARNING; on a terminal through rich so log lines print above the bars."""
    if on_terminal():
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(console=STDERR, show_path=False, show_time=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO if verbose else logging.WARNING)


class TerminalProgress(Progress):
    """Each step is a bar: description, bar, done/total, extra fields, elapsed time and ETA."""

    def __init__(self) -> None:
        self.bars = Bars(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                         TextColumn("{task.fields[note]}"), TimeElapsedColumn(), TextColumn("ETA"),
                         TimeRemainingColumn(), console=STDERR)

    def _open(self, task: Task) -> None:
        if not self.bars.live.is_started:
            self.bars.start()
        task.handle = self.bars.add_task(task.description, total=task.total, note="")

    def _update(self, task: Task, fields: dict) -> None:
        note = fields.get("note")
        extra = {} if note is None else {"note": str(note)}
        self.bars.update(task.handle, completed=task.completed, total=task.total, **extra)

    def _close(self, task: Task) -> None:
        done = task.total if task.total is not None else task.completed
        self.bars.update(task.handle, completed=max(done, task.completed), total=max(done, task.completed))

    def stop(self) -> None:
        if self.bars.live.is_started:
            self.bars.stop()


@contextmanager
def progress_display() -> Iterator[Progress]:
    """Bars on a terminal, logging only elsewhere; the bars stop before anything else prints."""
    if not on_terminal():
        yield Progress()
        return
    display = TerminalProgress()
    try:
        yield display
    finally:
        display.stop()
