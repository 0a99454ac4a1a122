"""`gaia-lab usage`: core-hours and GiB-hours per user or group, from the platform's usage database."""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

from gaia_lab.errors import ConfigError, GaiaLabError
from gaia_lab.platform.usage_report import BY, Report, aggregate, parse_time, table
from gaia_lab.platform.usage_store import UsageStore, path_in


def add_usage_command(subparsers: Any) -> None:
    usage = subparsers.add_parser(
        "usage",
        help="core-hours and GiB-hours of sessions and Dask clusters per user or group",
        description="What the platform's sessions and Dask clusters were given (cores, memory) for how long, per "
        "user or group, from the usage database in the platform's data dir (see docs/usage.md).",
    )
    usage.add_argument(
        "--data-dir",
        help="the platform's state directory (default: $GAIA_LAB_DATA_DIR, else ~/.local/share/gaia-lab/platform)",
    )
    usage.add_argument("--db", help="a usage database file instead (e.g. copied from the chart's hub volume)")
    usage.add_argument(
        "--since", default="7d", help="start: a duration back from now (12h, 7d, 2w) or an ISO date (default 7d)"
    )
    usage.add_argument("--until", default="now", help="end: 'now' (default), a duration back or an ISO date")
    usage.add_argument("--by", default="user", help="user (default) or group")
    usage.add_argument("--json", action="store_true", help="machine-readable output (for spreadsheets)")
    usage.set_defaults(handler=_usage, func=_usage)


def database(data_dir: str | os.PathLike[str] | None, db: str | None) -> Path:
    """The usage database file: ``--db``, else the one in the data dir (which must exist)."""
    if db:
        path = Path(db).expanduser()
        if not path.is_file():
            raise ConfigError("no such usage database file", source=f"--db {db}")
        return path
    from gaia_lab.platform.config import default_data_dir

    directory = Path(data_dir).expanduser() if data_dir else default_data_dir()
    if not directory.is_dir():
        raise ConfigError(
            "no such platform data directory (pass the --data-dir that `gaia-lab up` used)",
            source=f"--data-dir {directory}",
        )
    return path_in(directory)


def report(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    db: str | None = None,
    since: str = "7d",
    until: str = "now",
    by: str = "user",
) -> Report:
    """The usage report of a platform's data dir (or of a database file), as `gaia-lab usage` prints it."""
    if by not in BY:
        from gaia_lab.errors import InvalidQuery

        raise InvalidQuery("by", by, f"expected one of {', '.join(BY)}")
    now = time.time()
    start = parse_time(since, "since", now)
    end = parse_time(until, "until", now)
    path = database(data_dir, db)
    try:
        snapshot = UsageStore(path).snapshot()
    except sqlite3.Error as exc:
        raise ConfigError(f"not a readable usage database ({exc})", source=str(path)) from None
    return aggregate(snapshot, since=start, until=end, by=by)


def _usage(args: argparse.Namespace) -> int:
    try:
        result = report(args.data_dir, db=args.db, since=args.since, until=args.until, by=args.by)
    except GaiaLabError as exc:
        print(f"gaia-lab usage: error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(table(result))
    return 0
