"""The usage database: rows opened and closed, reconciliation after a downtime, heartbeats, two writing processes."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gaia_lab.platform.usage_recorder import RecordingProcess
from gaia_lab.platform.usage_store import HEARTBEAT_SECONDS, STARTUP_SECONDS, UsageStore

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(tmp_path: Path) -> UsageStore:
    created = UsageStore(tmp_path / "usage.sqlite")
    created.create()
    return created


def test_file_is_private_and_in_wal_mode(store: UsageStore) -> None:
    assert store.path.stat().st_mode & 0o777 == 0o600
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.create()  # idempotent


def test_start_stop_and_a_start_without_stop(store: UsageStore) -> None:
    store.start("session", "hub", "ann/", "ann", ["b", "a", "a"], cores=2, memory_bytes=2**32, now=100)
    assert store.stop("session", "ann/", now=160) == 1
    assert store.stop("session", "ann/", now=170) == 0  # nothing open any more
    store.start("session", "hub", "ann/", "ann", now=200)
    store.start("session", "hub", "ann/", "ann", now=230)  # the stop of the first was never seen
    rows = store.snapshot().intervals
    assert [(r.started, r.stopped, r.end_reason) for r in rows] == [
        (100, 160, "stopped"),
        (200, 230, "restarted"),
        (230, None, None),
    ]
    assert rows[0].groups == ("a", "b") and rows[0].cores == 2 and rows[0].memory_bytes == 2**32
    with pytest.raises(ValueError, match="kind"):
        store.start("pod", "hub", "x", "ann")


def test_cluster_stop_closes_its_workers_and_workers_inherit_groups(store: UsageStore) -> None:
    store.start("scheduler", "gateway", "c1", "ben", ["ocean"], cores=1, memory_bytes=2**31, cluster="c1", now=10)
    store.start("worker", "gateway", "c1/w1", "ben", None, cores=2, memory_bytes=2**30, cluster="c1", now=12)
    store.start("worker", "gateway", "c1/w2", "ben", None, cores=2, memory_bytes=2**30, cluster="c1", now=13)
    store.stop("worker", "c1/w1", now=20)
    assert store.stop("scheduler", "c1", cluster_workers=True, now=30) == 2
    rows = {r.key: r for r in store.snapshot().intervals}
    assert rows["c1/w1"].stopped == 20 and rows["c1/w2"].stopped == 30 and rows["c1"].stopped == 30
    assert rows["c1/w2"].groups == ("ocean",)


def test_update_corrects_resources_of_an_open_row_only(store: UsageStore) -> None:
    store.start("session", "hub", "ann/", "ann", cores=1, memory_bytes=None, now=0)
    store.update("session", "ann/", cores=4, memory_bytes=2**33)
    store.update("session", "ann/", cores=None, memory_bytes=None)  # unknown values keep the recorded ones
    (row,) = store.snapshot().intervals
    assert (row.cores, row.memory_bytes) == (4, 2**33)


def test_a_stop_found_after_a_downtime_closes_at_the_last_heartbeat(store: UsageStore) -> None:
    store.begin_run("hub", now=1000)
    store.heartbeat("hub", now=1030)
    store.start("session", "hub", "ann/", "ann", cores=1, memory_bytes=2**30, now=1010)
    # The machine was down for an hour; the hub starts again and finds the server dead.
    recorder = store.begin_run("hub", now=4600)
    assert recorder.previous_alive == 1030
    store.start("session", "hub", "ben/", "ben", now=4601)  # started in this run: stops now, not in the past
    store.stop("session", "ann/", recorder=recorder, now=4605)
    store.stop("session", "ben/", recorder=recorder, now=4606)
    rows = {r.key: r for r in store.snapshot().intervals}
    assert (rows["ann/"].stopped, rows["ann/"].end_reason) == (1030, "found-stopped")
    assert rows["ben/"].stopped == 4606
    # After the start-up window, a stop is a stop.
    store.start("session", "hub", "ann/", "ann", now=4610)
    store.stop("session", "ann/", recorder=recorder, now=4600 + STARTUP_SECONDS + 1)
    assert store.snapshot().intervals[-1].stopped == 4600 + STARTUP_SECONDS + 1


def test_a_quick_restart_is_not_a_downtime(store: UsageStore) -> None:
    store.begin_run("gateway", now=1000)
    store.start("scheduler", "gateway", "c1", "ann", cluster="c1", now=1001)
    recorder = store.begin_run("gateway", now=1000 + HEARTBEAT_SECONDS)  # within two heartbeats
    store.stop("scheduler", "c1", recorder=recorder, cluster_workers=True, now=1040)
    assert store.snapshot().intervals[0].stopped == 1040


def test_recording_process_beats_and_says_goodbye(tmp_path: Path) -> None:
    process = RecordingProcess(str(tmp_path / "usage.sqlite"), "hub", heartbeat=0.05)
    first = process.store.snapshot().recorders["hub"].last_alive
    time.sleep(0.3)
    beaten = process.store.snapshot().recorders["hub"].last_alive
    assert beaten > first
    process.close()
    closed = process.store.snapshot().recorders["hub"].last_alive
    time.sleep(0.2)
    assert process.store.snapshot().recorders["hub"].last_alive == closed


def test_recording_never_raises(tmp_path: Path) -> None:
    process = RecordingProcess(str(tmp_path / "usage.sqlite"), "hub", heartbeat=60)
    process.store.path.unlink()
    process.store.path.mkdir()  # a directory where the database was: every write fails
    assert process.safely("a start", process.store.start, "session", "hub", "ann/", "ann") is None
    process.close()


def test_snapshot_of_a_missing_database_is_empty(tmp_path: Path) -> None:
    snapshot = UsageStore(tmp_path / "none.sqlite").snapshot()
    assert snapshot.intervals == [] and snapshot.recorders == {}
    assert not (tmp_path / "none.sqlite").exists()


WRITER = """
import sys
from gaia_lab.platform.usage_store import UsageStore
store = UsageStore(sys.argv[1])
store.create()
source = sys.argv[2]
store.begin_run(source)
for i in range(150):
    store.start("worker" if source == "gateway" else "session", source, f"{source}-{i}", "ann", cluster="c")
    store.heartbeat(source)
    store.stop("worker" if source == "gateway" else "session", f"{source}-{i}")
"""


def test_hub_and_gateway_processes_write_at_once(tmp_path: Path) -> None:
    path = tmp_path / "usage.sqlite"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), source],
            env={"PYTHONPATH": str(ROOT)},
            stderr=subprocess.PIPE,
            text=True,
        )
        for source in ("hub", "gateway")
    ]
    for writer in writers:
        _, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
    snapshot = UsageStore(path).snapshot()
    assert len(snapshot.intervals) == 300
    assert all(row.stopped is not None for row in snapshot.intervals)
    assert set(snapshot.recorders) == {"hub", "gateway"}
