"""Executors: where case groups run. Serial, local processes, or a Dask cluster.

Each yields the rows of every group as it finishes (in completion order); the caller appends
them to the run folder. Work is submitted in a bounded window, so memory stays flat however many
groups a run has. Worker processes use one thread each (OpenCV and numba), so N workers use N cores.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from typing import Iterable, Iterator

from ._errors import FractalMatchError
from .config import Config
from .experiment import Group, run_groups

EXECUTORS = ("serial", "processes", "dask")


class ExecutorError(FractalMatchError):
    """An executor cannot start or lost a worker."""


_INITIALISED = False


def _init_worker() -> None:
    """One thread per worker process: the workers themselves are the parallelism."""
    global _INITIALISED
    if _INITIALISED:
        return
    import cv2
    import numba

    cv2.setNumThreads(1)
    numba.set_num_threads(1)
    _INITIALISED = True


def _work(config: Config, groups: list[Group]) -> list[tuple[str, list[dict]]]:
    _init_worker()
    return [(group.id, rows) for group, rows in zip(groups, run_groups(config, groups))]


def _batches(groups: list[Group], size: int) -> Iterator[list[Group]]:
    for start in range(0, len(groups), size):
        yield groups[start : start + size]


def execute(config: Config, groups: list[Group], executor: str = "processes", workers: int | None = None,
            scheduler: str | None = None, batch: int = 1) -> Iterable[tuple[str, list[dict]]]:
    """Run `groups` and yield (group id, rows) as each finishes."""
    if executor not in EXECUTORS:
        raise ExecutorError(f"unknown executor {executor!r} (allowed: {', '.join(EXECUTORS)})")
    workers = workers or os.cpu_count() or 1
    if executor == "serial":
        for chunk in _batches(groups, batch):
            yield from zip((g.id for g in chunk), run_groups(config, chunk))
        return
    if executor == "processes":
        yield from _execute_processes(config, groups, workers, batch)
    else:
        yield from _execute_dask(config, groups, workers, scheduler, batch)


def _execute_processes(config, groups, workers, batch):
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    # forkserver: workers do not inherit the parent's OpenMP/numba thread pools (fork would)
    context = multiprocessing.get_context("forkserver")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_init_worker)
    pending: set = set()
    chunks = deque(_batches(groups, batch))
    try:
        while chunks or pending:
            while chunks and len(pending) < 2 * workers:
                pending.add(pool.submit(_work, config, chunks.popleft()))
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                yield from future.result()
    except BrokenProcessPool:  # seen at submit or at result, depending on timing
        raise ExecutorError("a worker process died (killed or out of memory); finished groups are saved, "
                            "continue with --resume") from None
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _execute_dask(config, groups, workers, scheduler, batch):
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise ExecutorError("the dask executor needs dask.distributed: pip install -e \".[dask]\"") from None
    cluster = None
    try:
        if scheduler:
            client = Client(scheduler, timeout="20s")
        else:
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=None, host="127.0.0.1")
            client = Client(cluster)
    except (OSError, TimeoutError) as exc:
        raise ExecutorError(f"cannot reach the Dask scheduler {scheduler or '(local)'}: {exc}") from None
    try:
        chunks = deque(_batches(groups, batch))
        window = 2 * max(1, len(client.scheduler_info().get("workers", {})) or workers)
        futures = as_completed()
        in_flight = 0
        while chunks and in_flight < window:
            futures.add(client.submit(_work, config, chunks.popleft(), pure=False))
            in_flight += 1
        for future in futures:
            in_flight -= 1
            results = future.result()
            future.release()
            yield from results
            if chunks:
                futures.add(client.submit(_work, config, chunks.popleft(), pure=False))
                in_flight += 1
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
