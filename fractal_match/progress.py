"""Progress of long work, reported by the library and shown by whoever calls it.

A long library function takes ``progress: Progress | None`` and wraps each of its steps in
``with progress.step("what", total=N) as task: ... task.advance()``. The base class shows
nothing and logs each step and its duration at INFO level (``fractal-match -v``). The command
line passes a subclass that draws rich bars on a terminal. The library itself never prints.

>>> progress = Progress()
>>> with progress.step("counting", total=3) as task:
...     for _ in range(3):
...         task.advance()
>>> task.completed, task.total
(3, 3)
"""

from __future__ import annotations

import logging
import time
from contextlib import contextmanager
from typing import Iterator

log = logging.getLogger("fractal_match")


class Task:
    """One step in progress: `completed` of `total` units (total None: not known yet)."""

    def __init__(self, owner: "Progress", description: str, total: int | None):
        self.owner = owner
        self.description = description
        self.total = total
        self.completed = 0
        self.started = time.perf_counter()
        self.handle = None  # the display's own handle, for subclasses
        self.closed = False

    def advance(self, units: int = 1, **fields) -> None:
        """`units` more are done; `fields` are extra columns a display may show (e.g. rate)."""
        self.completed += units
        self.owner._update(self, fields)

    def update(self, completed: int | None = None, total: int | None = None, **fields) -> None:
        """Set the count done and/or the total outright."""
        if completed is not None:
            self.completed = completed
        if total is not None:
            self.total = total
        self.owner._update(self, fields)

    def close(self) -> None:
        """The step ended (logged with its duration); closing twice does nothing."""
        if self.closed:
            return
        self.closed = True
        self.owner._close(self)
        log.info("%s: done in %.1f s", self.description, time.perf_counter() - self.started)


class Progress:
    """Logs steps; shows nothing. Subclasses override the three hooks to display them."""

    def start(self, description: str, total: int | None = None) -> Task:
        """Open a step (logged); the caller closes it (:meth:`Task.close`). Prefer :meth:`step`."""
        task = Task(self, description, total)
        log.info("%s%s ...", description, "" if total is None else f" ({total})")
        self._open(task)
        return task

    @contextmanager
    def step(self, description: str, total: int | None = None) -> Iterator[Task]:
        """A step of the work: logged when it starts and when it ends, with its duration."""
        task = self.start(description, total)
        try:
            yield task
        finally:
            task.close()

    def _open(self, task: Task) -> None:
        """A step started (display hook)."""

    def _update(self, task: Task, fields: dict) -> None:
        """A step advanced (display hook)."""

    def _close(self, task: Task) -> None:
        """A step ended (display hook)."""


def ensure(progress: Progress | None) -> Progress:
    """`progress`, or a logging-only one."""
    return progress if progress is not None else Progress()

