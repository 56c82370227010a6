"""Executors: every worker limits its native thread pools to one thread before any work."""

import os

import pytest

from fractal_match.experiments.executors import ExecutorError, execute, pools_in_workers, worker_pools


def _assert_single_threaded(reports):
    assert reports
    for report in reports:
        apis = {pool["api"] for pool in report["pools"]}
        assert {"blas", "opencv", "numba"} <= apis, apis  # NumPy's OpenBLAS is always there
        for pool in report["pools"]:
            assert pool["threads"] == 1, (report["pid"], pool)


def test_process_workers_run_one_thread_per_pool():
    reports = pools_in_workers("processes", workers=2, hold=0.3)
    pids = {r["pid"] for r in reports}
    assert len(pids) == 2 and os.getpid() not in pids  # both workers answered
    _assert_single_threaded(reports)


def test_dask_workers_run_one_thread_per_pool():
    pytest.importorskip("distributed")
    reports = pools_in_workers("dask", workers=2, hold=0.3)
    pids = {r["pid"] for r in reports}
    assert len(pids) == 2 and os.getpid() not in pids
    _assert_single_threaded(reports)


@pytest.mark.skipif((os.cpu_count() or 1) < 2 or os.environ.get("NUMBA_NUM_THREADS") == "1",
                    reason="one core (or numba held at one thread): every pool has one thread anyway")
def test_serial_runs_keep_this_process_pools():
    reports = pools_in_workers("serial")
    assert {r["pid"] for r in reports} == {os.getpid()}
    numba = next(p for p in reports[0]["pools"] if p["api"] == "numba")
    assert numba["threads"] > 1


def test_execute_yields_every_item_of_every_batch():
    assert sorted(execute(sorted, [[3, 1], [2]], "processes", workers=2)) == [1, 2, 3]
    assert list(execute(sorted, [[3, 1], [2]], "serial")) == [1, 3, 2]
    with pytest.raises(ExecutorError, match="allowed: serial, processes, dask"):
        list(execute(sorted, [[1]], "threads"))


def test_worker_pools_names_every_pool():
    report = worker_pools()
    assert report["pid"] == os.getpid()
    assert all(isinstance(p["threads"], int) and p["threads"] >= 1 for p in report["pools"])
