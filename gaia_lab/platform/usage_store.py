"""The usage database: what ran, for whom, with how many cores and how much memory, from when to when.

One SQLite file in the platform's data directory (``usage.sqlite``), in WAL mode so that the hub process and the
gateway process write it at once while ``gaia-lab usage`` reads it. Each row of ``intervals`` is one thing that held
resources: a user server (``session``), a Dask cluster's scheduler (``scheduler``) or one of its workers
(``worker``). A start inserts a row with ``stopped`` NULL, the matching stop fills ``stopped`` in.

Each writing process (``hub``, ``gateway``) also keeps a heartbeat in ``recorders``: the report counts a row still
open up to "now" only while its recorder is alive, otherwise up to the recorder's last heartbeat (the platform
crashed or was killed: nothing ran for longer than it was watched). When a recorder comes back and finds a server
or cluster that died while it was down, the row is closed at that last heartbeat too (:meth:`UsageStore.stop`).

Standard library only: the hub imports this module without gaia_lab's package ``__init__`` (see hub_config).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

FILE_NAME = "usage.sqlite"
KINDS = ("session", "scheduler", "worker")
# Seconds between a recorder's heartbeats. A row open when its recorder last beat may have run up to one period
# longer than recorded: the report's error bound after a crash.
HEARTBEAT_SECONDS = 30.0
# A recorder that restarts within this many heartbeats was restarted, not down: what it finds dead died just now.
RESTART_GAP_BEATS = 2
# During its first seconds, a recorder's stops of rows opened before it may be the reconciliation of things that
# died while it was down (JupyterHub's start-up check of every server, the gateway's first check of its clusters).
STARTUP_SECONDS = 120.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS intervals (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    key TEXT NOT NULL,
    cluster TEXT,
    username TEXT NOT NULL,
    groups TEXT NOT NULL DEFAULT '[]',
    cores REAL,
    memory_bytes INTEGER,
    started REAL NOT NULL,
    stopped REAL,
    end_reason TEXT
);
CREATE INDEX IF NOT EXISTS intervals_open ON intervals (kind, key) WHERE stopped IS NULL;
CREATE INDEX IF NOT EXISTS intervals_time ON intervals (started, stopped);
CREATE TABLE IF NOT EXISTS recorders (
    source TEXT PRIMARY KEY,
    run_started REAL NOT NULL,
    last_alive REAL NOT NULL,
    previous_alive REAL,
    pid INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class Interval:
    """One row of ``intervals``; ``stopped`` is None while the thing runs."""

    kind: str
    source: str
    key: str
    username: str
    groups: tuple[str, ...]
    cores: float | None
    memory_bytes: int | None
    started: float
    stopped: float | None
    cluster: str | None = None
    end_reason: str | None = None


@dataclass(frozen=True)
class Recorder:
    source: str
    run_started: float
    last_alive: float
    previous_alive: float | None
    pid: int


@dataclass
class Snapshot:
    """Everything ``gaia-lab usage`` needs, read in one transaction."""

    intervals: list[Interval] = field(default_factory=list)
    recorders: dict[str, Recorder] = field(default_factory=dict)
    read_at: float = 0.0


def path_in(data_dir: str | os.PathLike[str]) -> Path:
    return Path(data_dir) / FILE_NAME


class UsageStore:
    """Writes and reads one usage database. Every method opens its own short connection: the hub and the gateway
    call it from their event loops' threads and executors, and SQLite connections must not cross threads."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        connection = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
        try:
            connection.execute("PRAGMA busy_timeout = 10000")
            yield connection
        finally:
            connection.close()

    def create(self) -> None:
        """Create the file (mode 0600: who used what is the platform's business) and its tables; idempotent."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode = WAL")
            db.executescript(_SCHEMA)

    # -- recorders ---------------------------------------------------------------------------------------------

    def begin_run(self, source: str, now: float | None = None) -> Recorder:
        """A recorder process starts: remember when its previous run was last alive."""
        now = time.time() if now is None else now
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            row = db.execute("SELECT last_alive FROM recorders WHERE source = ?", (source,)).fetchone()
            previous = float(row[0]) if row else None
            db.execute(
                "INSERT OR REPLACE INTO recorders (source, run_started, last_alive, previous_alive, pid) "
                "VALUES (?, ?, ?, ?, ?)",
                (source, now, now, previous, os.getpid()),
            )
            db.execute("COMMIT")
        return Recorder(source, now, now, previous, os.getpid())

    def heartbeat(self, source: str, now: float | None = None) -> None:
        now = time.time() if now is None else now
        with self._connect() as db:
            db.execute("UPDATE recorders SET last_alive = ? WHERE source = ? AND pid = ?", (now, source, os.getpid()))

    # -- intervals ---------------------------------------------------------------------------------------------

    def start(
        self,
        kind: str,
        source: str,
        key: str,
        username: str,
        groups: Iterable[str] | None = (),
        *,
        cores: float | None = None,
        memory_bytes: int | None = None,
        cluster: str | None = None,
        now: float | None = None,
    ) -> None:
        """Open a row for ``key``; a row still open for the same key (a start whose stop was never seen) is closed
        first, at this start. ``groups`` None: those of the latest row of ``cluster`` (a worker started after a
        gateway restart, which forgot who asked for the cluster)."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
        now = time.time() if now is None else now
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            db.execute(
                "UPDATE intervals SET stopped = max(started, ?), end_reason = 'restarted' "
                "WHERE kind = ? AND key = ? AND stopped IS NULL",
                (now, kind, key),
            )
            if groups is None:
                row = db.execute(
                    "SELECT groups FROM intervals WHERE cluster = ? ORDER BY started DESC LIMIT 1", (cluster,)
                ).fetchone()
                groups = json.loads(row[0]) if row else []
            db.execute(
                "INSERT INTO intervals (kind, source, key, cluster, username, groups, cores, memory_bytes, started) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (kind, source, key, cluster, username, json.dumps(sorted(set(groups))), cores, memory_bytes, now),
            )
            db.execute("COMMIT")

    def update(self, kind: str, key: str, *, cores: float | None, memory_bytes: int | None) -> None:
        """Correct the resources of an open row (JupyterHub applies a KubeSpawner profile after the pre-spawn hook)."""
        with self._connect() as db:
            db.execute(
                "UPDATE intervals SET cores = coalesce(?, cores), memory_bytes = coalesce(?, memory_bytes) "
                "WHERE kind = ? AND key = ? AND stopped IS NULL",
                (cores, memory_bytes, kind, key),
            )

    def stop(
        self,
        kind: str,
        key: str,
        *,
        recorder: Recorder | None = None,
        reason: str = "stopped",
        cluster_workers: bool = False,
        now: float | None = None,
    ) -> int:
        """Close the open row(s) of ``key`` (and, with ``cluster_workers``, the open workers of cluster ``key``).

        Given the recorder of this process: a stop seen within the recorder's start-up window, of a row opened before
        the recorder started, after a gap longer than a restart, is a reconciliation of something that died while
        nobody watched; it is closed at the previous run's last heartbeat, not now. Returns the rows closed."""
        now = time.time() if now is None else now
        stop_at = now
        if recorder is not None and reconciling(recorder, now):
            assert recorder.previous_alive is not None
            stop_at = recorder.previous_alive
            reason = "found-stopped"
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            closed = 0
            targets: list[tuple[str, tuple[str, ...]]] = [("kind = ? AND key = ?", (kind, key))]
            if cluster_workers:
                targets.append(("kind = 'worker' AND cluster = ?", (key,)))
            for where, args in targets:
                # A row opened after the chosen stop time (started in this run) stops now.
                cursor = db.execute(
                    "UPDATE intervals SET stopped = CASE WHEN started > ? THEN ? ELSE ? END, end_reason = ? "
                    f"WHERE {where} AND stopped IS NULL",
                    (stop_at, now, stop_at, reason, *args),
                )
                closed += cursor.rowcount
            db.execute("COMMIT")
        return closed

    def snapshot(self) -> Snapshot:
        """Every interval and recorder (missing file: empty)."""
        if not self.path.exists():
            return Snapshot(read_at=time.time())
        # Read-only: `gaia-lab usage` may run as an account that can read the file but must not change it.
        connection = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=10.0)
        try:
            connection.execute("BEGIN")
            rows = connection.execute(
                "SELECT kind, source, key, username, groups, cores, memory_bytes, started, stopped, cluster, "
                "end_reason FROM intervals ORDER BY started"
            ).fetchall()
            recorders = connection.execute(
                "SELECT source, run_started, last_alive, previous_alive, pid FROM recorders"
            ).fetchall()
            read_at = time.time()
            connection.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return Snapshot(read_at=time.time())
            raise
        finally:
            connection.close()
        return Snapshot(
            intervals=[
                Interval(
                    kind=row[0],
                    source=row[1],
                    key=row[2],
                    username=row[3],
                    groups=tuple(json.loads(row[4] or "[]")),
                    cores=row[5],
                    memory_bytes=row[6],
                    started=row[7],
                    stopped=row[8],
                    cluster=row[9],
                    end_reason=row[10],
                )
                for row in rows
            ],
            recorders={row[0]: Recorder(*row) for row in recorders},
            read_at=read_at,
        )


def reconciling(recorder: Recorder, now: float) -> bool:
    """Whether stops seen now by this recorder may be things found dead after a downtime (see :meth:`stop`)."""
    if recorder.previous_alive is None:
        return False
    gap = recorder.run_started - recorder.previous_alive
    return gap > RESTART_GAP_BEATS * HEARTBEAT_SECONDS and now - recorder.run_started < STARTUP_SECONDS
