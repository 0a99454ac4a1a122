"""argparse set-up of `gaia-lab up|status|down`: ``add_platform_commands(subparsers)`` registers all three."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from gaia_lab.errors import GaiaLabError


def add_platform_commands(subparsers: Any) -> None:
    """Register up/status/down on an ``argparse`` subparsers object; each sets ``handler(args) -> int`` (alias func)."""
    up = subparsers.add_parser(
        "up",
        help="start JupyterHub, Dask Gateway and the data lake on this machine",
        description="Start the GAIA Lab platform (loopback by default). Ctrl-C stops everything.",
    )
    up.add_argument("--config", "-f", help="platform config file (.yaml or .py), see docs/platform.md")
    up.add_argument(
        "--data-dir",
        help="state directory (default: $GAIA_LAB_DATA_DIR, else ~/.local/share/gaia-lab/platform)",
    )
    up.add_argument("--lake-dir", help="data lake directory (default: <data dir>/lake, built if missing)")
    up.add_argument("--ip", help="address to listen on (default 127.0.0.1)")
    up.add_argument("--port", type=int, help="public port of JupyterHub (default 8000; 0 picks a free one)")
    up.add_argument("--authenticator", help="JupyterHub authenticator class or entry point (default shared-password)")
    up.add_argument(
        "--workshop",
        "--workshop-dir",
        dest="workshop_dir",
        metavar="DIR",
        help="course folder (notebooks, data) copied read-only into each new user's home as ~/workshop",
    )
    up.add_argument("--background", "-d", action="store_true", help="detach; stop later with `gaia-lab down`")
    up.add_argument("--show-config", action="store_true", help="print every setting with its default and exit")
    up.set_defaults(handler=_up, func=_up)

    status = subparsers.add_parser("status", help="show whether the platform runs and where")
    status.add_argument("--data-dir")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(handler=_status, func=_status)

    down = subparsers.add_parser("down", help="stop a platform started with `gaia-lab up --background`")
    down.add_argument("--data-dir")
    down.set_defaults(handler=_down, func=_down)


def _up(args: argparse.Namespace) -> int:
    from gaia_lab.platform import load_config, up
    from gaia_lab.platform.config import describe_traits

    if args.show_config:
        for name, default, help_text in describe_traits():
            print(f"{name} = {default}\n    {help_text}")
        return 0
    if args.workshop_dir is not None and not Path(args.workshop_dir).expanduser().is_dir():
        print(f"gaia-lab up: error: --workshop {args.workshop_dir}: no such folder", file=sys.stderr)
        return 1
    try:
        config = load_config(
            args.config,
            data_dir=args.data_dir,
            lake_dir=args.lake_dir,
            ip=args.ip,
            port=args.port,
            authenticator_class=args.authenticator,
        )
        up(config, workshop_dir=args.workshop_dir, foreground=not args.background)
    except GaiaLabError as exc:
        print(f"gaia-lab up: error: {exc}", file=sys.stderr)
        return 1
    return 0


def _status(args: argparse.Namespace) -> int:
    from gaia_lab.platform import status

    state = status(args.data_dir)
    if args.json:
        print(json.dumps(state, indent=2))
    elif not state["running"]:
        print(f"GAIA Lab is not running (data dir {state['data_dir']}).")
    else:
        print(f"GAIA Lab is running (supervisor pid {state['pid']}, data dir {state['data_dir']}):")
        print(f"  JupyterHub    {state['hub_url']}")
        print(f"  Dask Gateway  {state['gateway_url']}")
        print(f"  Data lake     {state['lake_url']}")
        for name, component in state["components"].items():
            health = state["healthy"].get(name)
            flag = "" if health is None else ("  healthy" if health else "  NOT HEALTHY")
            print(f"  {name:<24} pid {component['pid']:<8} {'alive' if component['alive'] else 'DEAD'}{flag}")
    return 0 if state["running"] else 3


def _down(args: argparse.Namespace) -> int:
    from gaia_lab.platform import down

    try:
        stopped = down(args.data_dir)
    except GaiaLabError as exc:
        print(f"gaia-lab down: error: {exc}", file=sys.stderr)
        return 1
    print("GAIA Lab stopped." if stopped else "GAIA Lab was not running.")
    return 0
