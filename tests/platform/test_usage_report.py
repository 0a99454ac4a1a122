"""Aggregation of usage intervals: the period's bounds, rows still open, group attribution, the command's errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gaia_lab.cli import main
from gaia_lab.errors import ConfigError, InvalidQuery
from gaia_lab.platform.usage_cli import report
from gaia_lab.platform.usage_report import NO_GROUP, aggregate, parse_time, table
from gaia_lab.platform.usage_store import Interval, Recorder, Snapshot, UsageStore

H = 3600.0
GIB = 2**30
NOW = 100 * H


def interval(kind: str, user: str, start: float, stop: float | None, *, cores=1.0, gib=1.0, groups=(), source=None):
    return Interval(
        kind=kind,
        source=source or ("hub" if kind == "session" else "gateway"),
        key=f"{user}-{start}",
        username=user,
        groups=tuple(groups),
        cores=cores,
        memory_bytes=None if gib is None else int(gib * GIB),
        started=start,
        stopped=stop,
    )


def snapshot(*intervals: Interval, hub_alive: float = NOW, gateway_alive: float = NOW) -> Snapshot:
    return Snapshot(
        intervals=list(intervals),
        recorders={
            "hub": Recorder("hub", 0, hub_alive, None, 1),
            "gateway": Recorder("gateway", 0, gateway_alive, None, 2),
        },
        read_at=NOW,
    )


def rows(result) -> dict:
    return {row.name: row for row in result.rows}


def test_intervals_are_clipped_to_the_period() -> None:
    data = snapshot(
        interval("session", "ann", 10 * H, 14 * H, cores=2, gib=4),  # crosses --since: 2 h inside
        interval("session", "ann", 20 * H, 30 * H, cores=2, gib=4),  # crosses --until: 2 h inside
        interval("session", "ann", 1 * H, 2 * H, cores=2, gib=4),  # before: nothing
        interval("worker", "ann", 12 * H, 22 * H, cores=3, gib=2),  # spans the period: 10 h
    )
    result = aggregate(data, since=12 * H, until=22 * H)
    ann = rows(result)["ann"]
    assert ann.session_hours == pytest.approx(4)
    assert ann.session_core_hours == pytest.approx(8)
    assert ann.session_gib_hours == pytest.approx(16)
    assert ann.sessions == 2 and ann.workers == 1 and ann.clusters == 0
    assert ann.cluster_core_hours == pytest.approx(30)
    assert ann.cluster_gib_hours == pytest.approx(20)
    assert ann.core_hours == pytest.approx(38)
    assert result.total.core_hours == pytest.approx(38)


def test_open_intervals_count_to_now_while_recorded_then_to_the_last_heartbeat() -> None:
    open_session = interval("session", "ann", NOW - 2 * H, None, cores=2)
    open_worker = interval("worker", "ann", NOW - 2 * H, None, cores=1)
    alive = aggregate(snapshot(open_session, open_worker), since=0, until=NOW)
    assert rows(alive)["ann"].session_core_hours == pytest.approx(4)
    assert rows(alive)["ann"].cluster_core_hours == pytest.approx(2)
    assert alive.running == 2
    # The gateway died an hour ago (no heartbeat since): its worker counts until then, the session until now.
    dead = aggregate(snapshot(open_session, open_worker, gateway_alive=NOW - H), since=0, until=NOW)
    assert rows(dead)["ann"].session_core_hours == pytest.approx(4)
    assert rows(dead)["ann"].cluster_core_hours == pytest.approx(1)
    # A period ending in the past counts open rows up to its end only.
    past = aggregate(snapshot(open_session), since=0, until=NOW - H)
    assert rows(past)["ann"].session_core_hours == pytest.approx(2)


def test_groups_each_count_their_members_and_users_without_group_are_named() -> None:
    data = snapshot(
        interval("session", "ann", 0, H, cores=1, groups=["ocean"]),
        interval("scheduler", "ben", 0, 2 * H, cores=1, groups=["ocean", "land"]),
        interval("session", "cid", 0, 3 * H, cores=1),
    )
    result = aggregate(data, since=0, until=NOW, by="group")
    groups = rows(result)
    assert groups["ocean"].core_hours == pytest.approx(3) and groups["ocean"].users == {"ann", "ben"}
    assert groups["land"].core_hours == pytest.approx(2) and groups["land"].clusters == 1
    assert groups[NO_GROUP].core_hours == pytest.approx(3)
    assert result.total.core_hours == pytest.approx(6)  # the total counts everything once
    assert [row.name for row in result.rows] == ["(no group)", "ocean", "land"]  # most core-hours first
    assert "several groups" in table(result)


def test_sessions_without_limits_count_in_hours_only() -> None:
    result = aggregate(snapshot(interval("session", "ann", 0, H, cores=None, gib=None)), since=0, until=NOW)
    ann = rows(result)["ann"]
    assert ann.session_hours == pytest.approx(1) and ann.session_core_hours == 0 and ann.sessions_without_limits == 1
    assert "no CPU/memory limit" in table(result)


def test_parse_time() -> None:
    assert parse_time("7d", "since", NOW) == NOW - 7 * 24 * H
    assert parse_time("90m", "since", NOW) == NOW - 90 * 60
    assert parse_time(" 2w ", "since", NOW) == NOW - 14 * 24 * H
    assert parse_time("now", "until", NOW) == NOW
    assert parse_time("2026-12-01", "since", NOW) == datetime(2026, 12, 1, tzinfo=UTC).timestamp()
    assert parse_time("2026-12-01T08:00Z", "since", NOW) == datetime(2026, 12, 1, 8, tzinfo=UTC).timestamp()
    assert parse_time("2026-12-01T09:00+01:00", "since", NOW) == datetime(2026, 12, 1, 8, tzinfo=UTC).timestamp()
    for bad in ("yesterday", "7 days", "-3d", ""):
        with pytest.raises(InvalidQuery) as info:
            parse_time(bad, "since", NOW)
        assert info.value.parameter == "since"


def test_bad_periods_and_groupings_are_named() -> None:
    with pytest.raises(InvalidQuery, match="until") as info:
        aggregate(snapshot(), since=NOW, until=NOW - H)
    assert info.value.parameter == "until"
    with pytest.raises(InvalidQuery) as info:
        aggregate(snapshot(), since=0, until=NOW, by="project")
    assert info.value.parameter == "by"


def test_report_reads_a_data_dir(tmp_path: Path) -> None:
    store = UsageStore(tmp_path / "usage.sqlite")
    store.create()
    store.begin_run("hub")
    store.start("session", "hub", "ann/", "ann", ["ocean"], cores=2, memory_bytes=4 * GIB, now=NOW - 2 * H)
    store.stop("session", "ann/", now=NOW - H)
    result = report(tmp_path, since="1970-01-01", until="now")
    assert rows(result)["ann"].session_core_hours == pytest.approx(2)
    with pytest.raises(ConfigError, match="--data-dir"):
        report(tmp_path / "missing")
    with pytest.raises(ConfigError, match="--db"):
        report(db=str(tmp_path / "missing.sqlite"))
    (tmp_path / "junk.sqlite").write_text("not a database")
    with pytest.raises(ConfigError, match=r"junk\.sqlite"):
        report(db=str(tmp_path / "junk.sqlite"))
    # A data dir where nothing was recorded yet: an empty report.
    (tmp_path / "fresh").mkdir()
    assert report(tmp_path / "fresh").rows == []


def test_command_json_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = UsageStore(tmp_path / "usage.sqlite")
    store.create()
    store.begin_run("gateway")
    store.start("scheduler", "gateway", "c", "ben", ["land"], cores=1, memory_bytes=2 * GIB, cluster="c", now=0)
    store.stop("scheduler", "c", now=H)
    assert main(["usage", "--data-dir", str(tmp_path), "--since", "1970-01-01", "--json", "--by", "group"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["by"] == "group" and data["since"] == "1970-01-01T00:00:00Z"
    (land,) = data["rows"]
    assert land["name"] == "land" and land["cluster_core_hours"] == 1 and land["cluster_gib_hours"] == 2
    assert main(["usage", "--data-dir", str(tmp_path), "--since", "soon"]) == 2
    err = capsys.readouterr().err
    assert "invalid since='soon'" in err and "Traceback" not in err
    assert main(["usage", "--data-dir", str(tmp_path), "--by", "team"]) == 2
    assert "invalid by='team'" in capsys.readouterr().err
