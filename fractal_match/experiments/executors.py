"""Executors: where batches of work run. Serial, local processes, or a Dask cluster.

:func:`execute` takes a function and batches and yields the items of each batch's result as it
finishes (in completion order). It knows nothing of experiments: runs hand it their groups, and
studies their trials. Work is submitted in a bounded window, so memory stays flat however many
batches there are. In worker processes every native thread pool is limited to one thread (see
:func:`limit_threads`), so N workers use N cores and do not fight over them.
"""

from __future__ import annotations

import multiprocessing
import os
import warnings
from collections import deque
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable, Sequence

from .._errors import FractalMatchError, unknown_name

EXECUTORS = ("serial", "processes", "dask")


class ExecutorError(FractalMatchError):
    """An executor cannot start or lost a worker."""


_LIMITED = False
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")


def limit_threads() -> None:
    """One thread for every native pool in this process: BLAS and OpenMP (through threadpoolctl,
    which covers NumPy's and OpenCV's own OpenBLAS), OpenCV and numba. Worker processes call it
    before any work: there the workers themselves are the parallelism, and a second thread per
    pool only spins against the other workers (two OpenBLAS pools fighting made 2 workers no
    faster than one). numba's count is per calling thread, so it is set on every call (cheap);
    the rest once per process."""
    global _LIMITED
    import numba

    if not _LIMITED:
        import cv2
        from threadpoolctl import threadpool_limits

        from .._memory import keep_freed_memory

        keep_freed_memory()

        for variable in _THREAD_VARIABLES:  # for native libraries loaded later in this process
            os.environ[variable] = "1"
        numba.set_num_threads(1)  # starts numba's threading layer (it may load OpenMP) ...
        threadpool_limits(limits=1)  # ... so that this sees every pool loaded so far; kept for good
        cv2.setNumThreads(1)
        _LIMITED = True
    numba.set_num_threads(1)


@contextmanager
def single_threaded():
    """This process's native pools at one thread each for the duration (benchmarks use it to
    time a contender as one worker would run it), restored afterwards."""
    import cv2
    import numba
    from threadpoolctl import threadpool_limits

    opencv, numba_threads = cv2.getNumThreads(), numba.get_num_threads()
    with threadpool_limits(limits=1):
        cv2.setNumThreads(1)
        numba.set_num_threads(1)
        try:
            yield
        finally:
            cv2.setNumThreads(opencv)
            numba.set_num_threads(numba_threads)


def worker_pools() -> dict:
    """The thread pools of the calling process, as a worker sees them: threadpoolctl's view of
    BLAS and OpenMP, plus OpenCV's and numba's thread counts."""
    import cv2
    import numba
    from threadpoolctl import threadpool_info

    pools = [{"api": p["user_api"], "library": p.get("filepath", p["prefix"]), "threads": p["num_threads"]}
             for p in threadpool_info()]
    pools += [{"api": "opencv", "library": "cv2", "threads": cv2.getNumThreads()},
              {"api": "numba", "library": "numba", "threads": numba.get_num_threads()}]
    return {"pid": os.getpid(), "pools": pools}


def _report_pools(hold: float) -> list[dict]:
    if hold:
        import time

        time.sleep(hold)  # keeps this worker busy, so the next task goes to another one
    return [worker_pools()]


def pools_in_workers(executor: str = "processes", workers: int | None = None, scheduler: str | None = None,
                     hold: float = 0.0) -> list[dict]:
    """What the workers of `executor` report about their thread pools (:func:`worker_pools`),
    asked through the same path that runs take, one report per task (several per worker). Each
    task holds its worker `hold` seconds, so that every worker gets one."""
    workers = workers or os.cpu_count() or 1
    return list(execute(_report_pools, [hold] * (3 * workers), executor, workers, scheduler))


class VersionMismatch(ExecutorError):
    """A worker runs another version of the package than the client."""


def _version() -> str:
    from .. import _version

    return _version.__version__


def _in_worker(function, batch, files=None, version: str | None = None):
    """Run `function(batch)` in a worker: its version checked against the client's, the client's
    `files` ({path: bytes}) made readable by those paths, its pools limited (:func:`limit_threads`)."""
    if version is not None and _version() != version:
        raise VersionMismatch(_mismatch(_worker_name(), _version(), version))
    from ..images import provided_files

    limit_threads()
    with provided_files(files or {}):  # this task's files, for this task's thread only
        return function(batch)


def _worker_name() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return f"process {os.getpid()}"


def _mismatch(worker: str, theirs: str, mine: str) -> str:
    return (f"the Dask worker {worker} runs fractal-match {theirs}, this client {mine} (allowed: the same version on "
            f"every worker: pip install fractal-match=={mine} there, or start the workers from this install)")


def execute(function: Callable[[object], list], batches: Sequence, executor: str = "processes",
            workers: int | None = None, scheduler: str | None = None,
            files: Callable[[object], Iterable] | None = None, plugins: Sequence[dict] = ()) -> Iterable:
    """Run ``function(batch)`` for every batch and yield the items of each result as it finishes.

    `function` must be picklable (a top-level function or a functools.partial of one) for the
    processes and dask executors. Serial runs keep this process's thread pools; workers get one
    thread per pool. `files(batch)`, if given, names the files a batch reads by path: the dask
    executor sends their bytes to the cluster (each file once, keyed by its content hash), so its
    workers need no shared file system; local executors read them where they are. `plugins`
    (:func:`fractal_match.templates.plugins_used`) are the plug-ins the work needs: a Dask worker
    without one is refused, by name, before any work is sent.
    """
    if executor not in EXECUTORS:
        raise ExecutorError(unknown_name("executor", executor, EXECUTORS))
    workers = workers or os.cpu_count() or 1
    if executor == "serial":
        for batch in batches:
            yield from function(batch)
    elif executor == "processes":
        yield from _execute_processes(function, batches, workers)
    else:
        yield from _execute_dask(function, batches, workers, scheduler, files, plugins)


def process_pool(workers: int):
    """Local worker processes, each with its native pools limited to one thread before any work.

    forkserver: workers do not inherit the parent's OpenMP/numba thread pools (fork would). The
    server imports the package once, before any pool exists, and every worker forks from it
    with the imports done (about 0.6 s less per worker start).
    """
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["fractal_match.experiments.cases", "fractal_match.experiments.executors"])
    return ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=limit_threads)


def _execute_processes(function, batches, workers):
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures.process import BrokenProcessPool

    pool = process_pool(workers)
    pending: set = set()
    waiting = deque(batches)
    try:
        while waiting or pending:
            while waiting and len(pending) < 2 * workers:
                pending.add(pool.submit(function, waiting.popleft()))
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                yield from future.result()
    except BrokenProcessPool:  # seen at submit or at result, depending on timing
        error = ExecutorError("a worker process died (killed or out of memory); finished work is saved, "
                              "continue with --resume")
        error.resumable = True
        raise error from None
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def dask_client(workers: int, scheduler: str | None = None):
    """A Dask client: joined to `scheduler`, or to a local cluster of `workers` single-threaded
    worker processes (closed with the client). Returns (client, cluster or None)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ExecutorError("the dask executor needs dask.distributed: pip install -e \".[dask]\"") from None
    if scheduler:
        try:
            return Client(scheduler, timeout="20s"), None
        except Exception as exc:  # noqa: BLE001 - whatever a wrong address answers is one line
            # A peer that is not a Dask scheduler can make the handshake fail any way at all
            # (garbage frame sizes give ValueError or MemoryError), not only OSError.
            raise ExecutorError(f"cannot join the Dask scheduler {scheduler}: {_one_line(exc)} "
                                "(expected tcp://HOST:PORT of a running dask scheduler)") from None
    try:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, host="127.0.0.1")
        return Client(cluster), cluster
    except (OSError, TimeoutError) as exc:
        raise ExecutorError(f"cannot start a local Dask cluster: {_one_line(exc)}") from None


def _one_line(exc: BaseException) -> str:
    """An exception as one short line: its type and the first line of its message."""
    text = str(exc).strip().splitlines()
    message = text[0][:200] if text else ""
    return f"{type(exc).__name__}: {message}" if message else type(exc).__name__


class _Shipment:
    """The client's files on the cluster: each read once and sent once under its content hash
    (two paths with one content share it), named per task by the paths its code reads, and
    released once no batch left needs it (`needs`: the files of every batch, in order)."""

    def __init__(self, client, needs: list):
        self.client = client
        self.by_path: dict[str, object] = {}
        self.by_hash: dict[str, object] = {}
        self.hash_of: dict[str, str] = {}
        self.left: dict[str, int] = {}  # path -> batches not yet finished that read it
        for paths in needs:
            for path in paths:
                self.left[str(path)] = self.left.get(str(path), 0) + 1

    def send(self, paths) -> dict:
        """{path: future} of a batch's files, scattering those not on the cluster yet."""
        import hashlib

        from ..images import _read_bytes

        found = {}
        for path in paths:
            key = str(path)
            if key not in self.by_path:
                data = _read_bytes(Path(path))  # a file that cannot be read: one line naming it
                digest = hashlib.sha256(data).hexdigest()
                if digest not in self.by_hash:
                    # The bytes as a task whose result they are, not scattered data: the scheduler
                    # keeps the task, so a worker that dies holding them costs a re-run, not the run.
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")  # "large object in task graph": it is meant to be
                        self.by_hash[digest] = self.client.submit(bytes, data, key=f"fractal-match-file-{digest}",
                                                                  pure=False)
                self.by_path[key], self.hash_of[key] = self.by_hash[digest], digest
            found[key] = self.by_path[key]
        return found

    def done(self, paths) -> None:
        """A batch finished: files no later batch reads leave the cluster."""
        for path in paths:
            key = str(path)
            self.left[key] -= 1
            if not self.left[key]:
                self.by_path.pop(key, None)
                digest = self.hash_of.pop(key, None)
                if digest is not None and digest not in self.hash_of.values():
                    self.by_hash.pop(digest).release()


def check_versions(client) -> None:
    """Refuse, in one line, a cluster with a worker whose package version is not this client's,
    or that cannot import the package at all (before any work is sent)."""
    mine = _version()
    for worker, theirs in sorted(client.run(_version, on_error="return").items()):
        if isinstance(theirs, BaseException):
            raise VersionMismatch(f"the Dask worker {worker} cannot run fractal-match ({_one_line(theirs)}) (allowed: "
                                  f"workers with fractal-match {mine} installed: pip install fractal-match=={mine} there)")
        if theirs != mine:
            raise VersionMismatch(_mismatch(worker, theirs, mine))


def _plugin_names() -> dict:
    from ..templates import FAMILIES, KERNEL_SOURCES

    return {"family": sorted(FAMILIES), "kernel source": sorted(KERNEL_SOURCES)}


def check_plugins(client, plugins: Sequence[dict]) -> None:
    """Refuse, in one line, a cluster with a worker that lacks a plug-in the work needs (its
    error would otherwise read like a typo in the config: "unknown family ...")."""
    if not plugins:
        return
    for worker, found in sorted(client.run(_plugin_names, on_error="return").items()):
        if isinstance(found, BaseException):
            continue  # check_versions has said why this worker cannot run the package
        for plugin in plugins:
            if plugin["name"] not in found.get(plugin["kind"], ()):
                package = plugin.get("package") or "its package"
                pin = f"=={plugin['version']}" if plugin.get("version") else ""
                raise VersionMismatch(f"the Dask worker {worker} has no {plugin['kind']} {plugin['name']!r}, a plug-in "
                                      f"that {package} {plugin.get('version') or ''} installs on this client (allowed: "
                                      f"workers with the same plug-ins: pip install {package}{pin} there)")


def _execute_dask(function, batches, workers, scheduler, files=None, plugins=()):
    from distributed import as_completed

    client, cluster = dask_client(workers, scheduler)
    try:
        check_versions(client)
        check_plugins(client, plugins)
        needs = [list(files(batch)) if files is not None else [] for batch in batches]
        shipment, version = _Shipment(client, needs), _version()
        reads: dict = {}  # future key -> the files its batch reads

        def submit(index):
            future = client.submit(_in_worker, function, batches[index], shipment.send(needs[index]), version, pure=False)
            reads[future.key] = needs[index]
            return future

        waiting = deque(range(len(batches)))
        window = 2 * max(1, len(client.scheduler_info().get("workers", {})) or workers)
        futures = as_completed()
        in_flight = 0
        while waiting and in_flight < window:
            futures.add(submit(waiting.popleft()))
            in_flight += 1
        for future in futures:
            in_flight -= 1
            results = future.result()
            shipment.done(reads.pop(future.key))
            future.release()
            yield from results
            if waiting:
                futures.add(submit(waiting.popleft()))
                in_flight += 1
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
