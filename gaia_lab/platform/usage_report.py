"""Core-hours and GiB-hours per user or group over a period, from the usage database's intervals.

An interval counts for the part of it inside ``[since, until)``. A row still open counts up to ``until`` or "now"
while its recorder (the hub, the gateway) is alive, and only up to the recorder's last heartbeat when it is not
(the platform is down or crashed: nothing was seen running after that). Cores and memory are what the session or
Dask process was given (limits), not what it used. A user in several groups counts in each of them, so group
totals may add up to more than the platform's; users in no group are under ``(no group)``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from gaia_lab.errors import InvalidQuery
from gaia_lab.platform.usage_store import HEARTBEAT_SECONDS, Interval, Snapshot

GIB = 1024**3
NO_GROUP = "(no group)"
BY = ("user", "group")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
# A recorder whose last heartbeat is older than this is not running.
ALIVE_WITHIN = 3 * HEARTBEAT_SECONDS


def parse_time(value: str, parameter: str, now: float) -> float:
    """A Unix time from ``now``, a duration back from now (``90m``, ``12h``, ``7d``, ``2w``) or an ISO 8601 date or
    date-time (UTC unless it says otherwise)."""
    text = value.strip()
    if text.lower() == "now":
        return now
    match = _RELATIVE.match(text)
    if match:
        return now - float(match.group(1)) * _UNITS[match.group(2)]
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise InvalidQuery(
            parameter,
            value,
            "expected a duration back from now (30m, 12h, 7d, 2w), an ISO 8601 date or date-time "
            "(2026-12-01, 2026-12-01T08:00Z), or 'now'",
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


@dataclass
class Usage:
    """Usage of one user or group (or the total) over the period."""

    name: str
    session_hours: float = 0.0
    session_core_hours: float = 0.0
    session_gib_hours: float = 0.0
    sessions: int = 0
    sessions_without_limits: int = 0
    cluster_hours: float = 0.0
    cluster_core_hours: float = 0.0
    cluster_gib_hours: float = 0.0
    clusters: int = 0
    workers: int = 0
    users: set[str] = field(default_factory=set)

    @property
    def core_hours(self) -> float:
        return self.session_core_hours + self.cluster_core_hours

    @property
    def gib_hours(self) -> float:
        return self.session_gib_hours + self.cluster_gib_hours

    def add(self, interval: Interval, seconds: float) -> None:
        hours = seconds / 3600
        cores = hours * (interval.cores or 0.0)
        gib = hours * (interval.memory_bytes or 0) / GIB
        self.users.add(interval.username)
        if interval.kind == "session":
            self.sessions += 1
            self.session_hours += hours
            self.session_core_hours += cores
            self.session_gib_hours += gib
            if interval.cores is None or interval.memory_bytes is None:
                self.sessions_without_limits += 1
            return
        if interval.kind == "scheduler":
            self.clusters += 1
            self.cluster_hours += hours
        else:
            self.workers += 1
        self.cluster_core_hours += cores
        self.cluster_gib_hours += gib

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["users"] = sorted(self.users)
        data["core_hours"] = self.core_hours
        data["gib_hours"] = self.gib_hours
        for key, value in data.items():
            if isinstance(value, float):
                data[key] = round(value, 6)
        return data


@dataclass
class Report:
    since: float
    until: float
    by: str
    rows: list[Usage]
    total: Usage
    running: int  # intervals still open, counted up to the end of the period or the last heartbeat

    def to_dict(self) -> dict[str, Any]:
        return {
            "since": _iso(self.since),
            "until": _iso(self.until),
            "by": self.by,
            "rows": [row.to_dict() for row in self.rows],
            "total": self.total.to_dict(),
            "running": self.running,
        }


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def end_of(interval: Interval, snapshot: Snapshot) -> float:
    """When the interval ended, or, still open, the last moment it is known to have run."""
    if interval.stopped is not None:
        return interval.stopped
    recorder = snapshot.recorders.get(interval.source)
    if recorder is None or snapshot.read_at - recorder.last_alive <= ALIVE_WITHIN:
        return snapshot.read_at
    return max(interval.started, recorder.last_alive)


def names_for(interval: Interval, by: str) -> Iterable[str]:
    if by == "user":
        return (interval.username,)
    return interval.groups or (NO_GROUP,)


def aggregate(snapshot: Snapshot, *, since: float, until: float, by: str = "user") -> Report:
    if by not in BY:
        raise InvalidQuery("by", by, f"expected one of {', '.join(BY)}")
    if until <= since:
        raise InvalidQuery("until", _iso(until), f"must be after --since ({_iso(since)})")
    rows: dict[str, Usage] = {}
    total = Usage("total")
    running = 0
    for interval in snapshot.intervals:
        seconds = min(end_of(interval, snapshot), until) - max(interval.started, since)
        if seconds <= 0:
            continue
        if interval.stopped is None:
            running += 1
        total.add(interval, seconds)
        for name in names_for(interval, by):
            rows.setdefault(name, Usage(name)).add(interval, seconds)
    ordered = sorted(rows.values(), key=lambda usage: (-usage.core_hours, usage.name))
    return Report(since, until, by, ordered, total, running)


def table(report: Report) -> str:
    """The report as aligned text columns."""
    headers = [
        report.by,
        "sessions",
        "session h",
        "session core-h",
        "session GiB-h",
        "clusters",
        "workers",
        "cluster core-h",
        "cluster GiB-h",
        "core-h",
        "GiB-h",
    ]

    def cells(usage: Usage) -> list[str]:
        return [
            usage.name,
            str(usage.sessions),
            f"{usage.session_hours:.2f}",
            f"{usage.session_core_hours:.2f}",
            f"{usage.session_gib_hours:.2f}",
            str(usage.clusters),
            str(usage.workers),
            f"{usage.cluster_core_hours:.2f}",
            f"{usage.cluster_gib_hours:.2f}",
            f"{usage.core_hours:.2f}",
            f"{usage.gib_hours:.2f}",
        ]

    body = [cells(row) for row in report.rows]
    footer = cells(report.total)
    widths = [max(len(line[i]) for line in [headers, *body, footer]) for i in range(len(headers))]

    def line(values: list[str]) -> str:
        first, *rest = values
        return "  ".join([first.ljust(widths[0]), *(v.rjust(w) for v, w in zip(rest, widths[1:], strict=True))])

    out = [f"Usage from {_iso(report.since)} to {_iso(report.until)}, by {report.by}", ""]
    out += [line(headers), "  ".join("-" * w for w in widths)]
    out += [line(row) for row in body] or ["(nothing ran in this period)"]
    out += ["  ".join("-" * w for w in widths), line(footer)]
    notes = []
    if report.running:
        notes.append(f"{report.running} session(s)/cluster process(es) still running, counted up to the end.")
    if report.total.sessions_without_limits:
        notes.append(
            f"{report.total.sessions_without_limits} session(s) had no CPU/memory limit: counted in hours only."
        )
    if report.by == "group":
        notes.append("A user in several groups counts in each of them.")
    return "\n".join(out + (["", *notes] if notes else []))
