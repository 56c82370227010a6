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


def test_the_shipment_sends_each_content_once_and_releases_it_after_the_last_batch_that_reads_it(tmp_path):
    from fractal_match.experiments.executors import _Shipment

    class Future:
        def __init__(self):
            self.released = False

        def release(self):
            self.released = True

    class Client:  # what the shipment asks of a Dask client
        def __init__(self):
            self.sent = []

        def submit(self, function, data, key, pure):
            self.sent.append(key)
            assert function(data) == data and not pure
            return Future()

    a, b, c = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.png"
    a.write_bytes(b"same bytes")
    b.write_bytes(b"same bytes")  # another path, one content: sent once
    c.write_bytes(b"other bytes")
    needs = [[a], [a, b], [c]]
    client = Client()
    shipment = _Shipment(client, needs)
    first, second = shipment.send(needs[0]), shipment.send(needs[1])
    assert len(client.sent) == 1 and first[str(a)] is second[str(a)] is second[str(b)]
    shipment.done(needs[0])
    assert not first[str(a)].released  # batch 1 still reads it
    third = shipment.send(needs[2])
    assert len(client.sent) == 2
    shipment.done(needs[1])
    assert second[str(a)].released and not third[str(c)].released
    shipment.done(needs[2])
    assert third[str(c)].released and not shipment.by_hash and not shipment.by_path


def test_provided_files_are_seen_by_their_own_thread_only(tmp_path):
    import threading

    import numpy as np

    from fractal_match import load_image, save_image
    from fractal_match.images import provided_files

    save_image(tmp_path / "one.png", np.full((4, 4), 10, np.uint8))
    save_image(tmp_path / "two.png", np.full((4, 4), 20, np.uint8))
    name = str(tmp_path / "nowhere.png")  # a path no thread can read from disk
    found, ready = {}, threading.Barrier(2)

    def task(label, source):
        with provided_files({name: source.read_bytes()}):
            ready.wait()  # both threads hold their files at once
            found[label] = int(load_image(name)[0, 0])

    threads = [threading.Thread(target=task, args=(label, tmp_path / f"{label}.png")) for label in ("one", "two")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert found == {"one": 10, "two": 20}
    with pytest.raises(Exception, match="no such file"):
        load_image(name)  # outside the block: the file system again
