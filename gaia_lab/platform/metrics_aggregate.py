"""What the GAIA Lab exporter counts, as plain functions of what it reads (unit-tested without any server):

- who uses what: running servers (the hub's user models), Dask clusters, their workers, cores and memory (the
  gateway's database), per user and per group;
- what sessions report (:mod:`gaia_lab.metrics`): data read and search latency per provider, accumulated per
  authenticated user, the reports checked so that a session can neither inflate memory nor forge a label.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gaia_lab.metrics import MAX_PROVIDERS, OTHER, SEARCH_BUCKETS

# dask-gateway-server's JobStatus: CREATED 1, SUBMITTED 2, RUNNING 3, CLOSING 4, STOPPED 5, FAILED 6.
_RUNNING, _STOPPED = 3, 5
PROVIDER_LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,99}$")
MAX_USERS = 10_000


@dataclass(frozen=True)
class ClusterUse:
    """One active cluster: its running workers and what the scheduler and those workers were given."""

    user: str
    workers: int
    cores: float
    memory: int


@dataclass
class Usage:
    servers: int = 0
    clusters: int = 0
    workers: int = 0
    cores: float = 0.0
    memory: int = 0

    def add_cluster(self, cluster: ClusterUse) -> None:
        self.clusters += 1
        self.workers += cluster.workers
        self.cores += cluster.cores
        self.memory += cluster.memory


def cluster_use(user: str, config: Mapping[str, Any], running_workers: int) -> ClusterUse:
    """A cluster's resources from its gateway ClusterConfig: the scheduler plus each running worker."""
    worker_cores = float(config.get("worker_cores", 1))
    worker_memory = int(config.get("worker_memory", 0))
    return ClusterUse(
        user=user,
        workers=running_workers,
        cores=float(config.get("scheduler_cores", 1)) + running_workers * worker_cores,
        memory=int(config.get("scheduler_memory", 0)) + running_workers * worker_memory,
    )


def read_gateway_clusters(db_file: Path) -> list[ClusterUse]:
    """The active clusters in dask-gateway-server's database (read-only; [] when it does not exist yet)."""
    if not db_file.exists():
        return []
    connection = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True, timeout=5)
    try:
        rows = connection.execute(
            "SELECT c.username, c.config, "
            "(SELECT COUNT(*) FROM workers w WHERE w.cluster_id = c.id AND w.status = ?) "
            "FROM clusters c WHERE c.status < ?",
            (_RUNNING, _STOPPED),
        ).fetchall()
    except sqlite3.OperationalError:  # tables not created yet: the gateway has just started
        return []
    finally:
        connection.close()
    return [cluster_use(str(user), json.loads(config), int(workers)) for user, config, workers in rows]


def running_servers(user: Mapping[str, Any]) -> int:
    """Servers of a hub user model that are up (pending spawns and stops do not count)."""
    servers = user.get("servers") or {}
    return sum(1 for server in servers.values() if server.get("ready"))


@dataclass
class UsageReport:
    per_user: dict[str, Usage]
    per_group: dict[str, Usage]
    active_users: int


def aggregate(users: Iterable[Mapping[str, Any]], clusters: Iterable[ClusterUse]) -> UsageReport:
    """Per-user and per-group usage. A user in two groups counts in both; a cluster of a user the hub does not list
    (deleted since) still counts for that user, in no group."""
    per_user: dict[str, Usage] = {}
    groups_of: dict[str, list[str]] = {}
    for user in users:
        name = str(user["name"])
        per_user.setdefault(name, Usage()).servers += running_servers(user)
        groups_of[name] = [str(group) for group in user.get("groups") or []]
    for cluster in clusters:
        per_user.setdefault(cluster.user, Usage()).add_cluster(cluster)
    per_group: dict[str, Usage] = {}
    for name, usage in per_user.items():
        for group in groups_of.get(name, []):
            total = per_group.setdefault(group, Usage())
            total.servers += usage.servers
            total.clusters += usage.clusters
            total.workers += usage.workers
            total.cores += usage.cores
            total.memory += usage.memory
    active = sum(1 for usage in per_user.values() if usage.servers or usage.clusters)
    return UsageReport(per_user, per_group, active)


class InvalidReport(ValueError):
    """A session's report the exporter refuses (HTTP 400), naming what is wrong."""


def _count(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidReport(f"{what}: expected a non-negative integer, got {value!r}")
    return value


def _seconds(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1e9:
        raise InvalidReport(f"{what}: expected a non-negative number of seconds, got {value!r}")
    return float(value)


def _provider(name: object) -> str:
    if not isinstance(name, str) or not PROVIDER_LABEL.match(name):
        raise InvalidReport(f"provider {name!r}: expected [A-Za-z0-9._:-], at most 100 characters")
    return name


@dataclass
class Histogram:
    buckets: list[int] = field(default_factory=lambda: [0] * len(SEARCH_BUCKETS))
    sum: float = 0.0
    count: int = 0
    errors: int = 0


def parse_report(report: object) -> tuple[dict[str, Histogram], dict[str, tuple[int, int, int]]]:
    """The search histograms and read counters of a session's report; InvalidReport when malformed."""
    if not isinstance(report, dict) or set(report) - {"search", "reads"}:
        raise InvalidReport("expected an object with 'search' and 'reads'")
    searches: dict[str, Histogram] = {}
    search = report.get("search", {})
    reads_in = report.get("reads", {})
    if not isinstance(search, dict) or not isinstance(reads_in, dict):
        raise InvalidReport("'search' and 'reads' map providers to numbers")
    if len(search) > MAX_PROVIDERS + 1 or len(reads_in) > MAX_PROVIDERS + 1:
        raise InvalidReport(f"at most {MAX_PROVIDERS} providers per report")
    for name, row in search.items():
        provider = _provider(name)
        if not isinstance(row, dict):
            raise InvalidReport(f"search[{provider}]: expected an object")
        buckets = row.get("buckets")
        if not isinstance(buckets, list) or len(buckets) != len(SEARCH_BUCKETS):
            raise InvalidReport(f"search[{provider}].buckets: expected {len(SEARCH_BUCKETS)} counts")
        counts = [_count(value, f"search[{provider}].buckets") for value in buckets]
        count = _count(row.get("count"), f"search[{provider}].count")
        if counts != sorted(counts) or (counts and counts[-1] > count):
            raise InvalidReport(f"search[{provider}].buckets: cumulative counts, none above count")
        errors = _count(row.get("errors", 0), f"search[{provider}].errors")
        if errors > count:
            raise InvalidReport(f"search[{provider}].errors: more than count")
        searches[provider] = Histogram(counts, _seconds(row.get("sum"), f"search[{provider}].sum"), count, errors)
    reads: dict[str, tuple[int, int, int]] = {}
    for name, row in reads_in.items():
        provider = _provider(name)
        if not isinstance(row, dict):
            raise InvalidReport(f"reads[{provider}]: expected an object")
        reads[provider] = (
            _count(row.get("bytes"), f"reads[{provider}].bytes"),
            _count(row.get("requests"), f"reads[{provider}].requests"),
            _count(row.get("errors", 0), f"reads[{provider}].errors"),
        )
    return searches, reads


class SessionTotals:
    """Everything sessions reported, per (user, provider), since the exporter started. Thread-safe; bounded by
    MAX_PROVIDERS providers per user (more fold into 'other') and MAX_USERS users."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.search: dict[tuple[str, str], Histogram] = {}
        self.reads: dict[tuple[str, str], list[int]] = {}
        self._providers: dict[str, set[str]] = {}

    def _label(self, user: str, provider: str) -> str:
        known = self._providers.setdefault(user, set())
        if provider in known:
            return provider
        if len(known) >= MAX_PROVIDERS:
            return OTHER
        known.add(provider)
        return provider

    def add(self, user: str, report: object) -> None:
        """Add a session's report for ``user`` (the authenticated one); InvalidReport leaves the totals untouched."""
        searches, reads = parse_report(report)
        with self._lock:
            if user not in self._providers and len(self._providers) >= MAX_USERS:
                raise InvalidReport("too many users reporting")
            for provider, histogram in searches.items():
                total = self.search.setdefault((user, self._label(user, provider)), Histogram())
                total.buckets = [a + b for a, b in zip(total.buckets, histogram.buckets, strict=True)]
                total.sum += histogram.sum
                total.count += histogram.count
                total.errors += histogram.errors
            for provider, (nbytes, requests, errors) in reads.items():
                row = self.reads.setdefault((user, self._label(user, provider)), [0, 0, 0])
                row[0] += nbytes
                row[1] += requests
                row[2] += errors

    def copy(self) -> tuple[dict[tuple[str, str], Histogram], dict[tuple[str, str], list[int]]]:
        with self._lock:
            search = {key: Histogram(list(h.buckets), h.sum, h.count, h.errors) for key, h in self.search.items()}
            return search, {key: list(row) for key, row in self.reads.items()}
