"""argparse set-up of `gaia-lab up|status|down|users`: ``add_platform_commands(subparsers)`` registers them."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from gaia_lab.errors import GaiaLabError


def add_platform_commands(subparsers: Any) -> None:
    """Register up/status/down/users on an ``argparse`` subparsers object; each sets ``handler(args) -> int`` (alias
    func)."""
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
        "--python",
        help="Python of sessions, schedulers and workers (default: this one); run as root, every account must be "
        "able to run it",
    )
    up.add_argument(
        "--workshop",
        "--workshop-dir",
        dest="workshop_dir",
        metavar="DIR",
        help="course folder (notebooks, data) copied read-only into each new user's home as ~/workshop",
    )
    up.add_argument(
        "--s3",
        action="store_true",
        default=None,
        help="also run an S3 server with the lake in a public and a private bucket, and a key per session",
    )
    up.add_argument(
        "--slurm",
        action="store_true",
        default=None,
        help="also run an HPC Dask Gateway whose clusters are Slurm jobs of each user's account "
        "(gl.cluster(profile='hpc')); without slurm_conf in the config, on a Slurm of the platform's own",
    )
    up.add_argument(
        "--metrics",
        action="store_true",
        default=None,
        help="also run Prometheus and the GAIA Lab exporter (usage, data read, search latency; docs/metrics.md)",
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

    users = subparsers.add_parser(
        "users",
        help="list or remove the system accounts made for hub users (platform started as root)",
        description="The system accounts `gaia-lab up` made for hub users, found by their prefix and their mark.",
    )
    users_commands = users.add_subparsers(dest="users_command", required=True)
    listing = users_commands.add_parser("list", help="the accounts, their hub user, home and running processes")
    remove = users_commands.add_parser("remove", help="delete accounts with their homes (root only)")
    remove.add_argument("names", nargs="*", metavar="NAME", help="hub user or account name")
    remove.add_argument("--all", action="store_true", help="every account of the platform")
    remove.add_argument("--force", action="store_true", help="stop the accounts' running processes first")
    for command in (listing, remove):
        command.add_argument("--config", "-f", help="platform config file (its account_prefix and shared_dir)")
        command.add_argument("--prefix", help="account prefix (default: the config's, else gaia-)")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(handler=_users_list, func=_users_list)
    remove.set_defaults(handler=_users_remove, func=_users_remove)

    from gaia_lab.platform.usage_cli import add_usage_command

    add_usage_command(subparsers)


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
            python=args.python,
            s3=args.s3,
            slurm=args.slurm,
            metrics=args.metrics,
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
        if state.get("prometheus_url"):
            print(f"  Prometheus    {state['prometheus_url']}")
        if state.get("user_accounts") == "system":
            print(f"  Sessions      per-user system accounts {state['account_prefix']}<name> (gaia-lab users list)")
        else:
            print("  Sessions      single-user mode: all sessions share the platform's account")
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


def _accounts(args: argparse.Namespace) -> Any:
    from gaia_lab.platform import load_config
    from gaia_lab.platform.accounts import Accounts

    config = load_config(args.config, account_prefix=args.prefix)
    return Accounts(config.account_prefix, config.resolved_shared_dir() / "homes")


def _users_list(args: argparse.Namespace) -> int:
    from gaia_lab.platform.accounts import processes_of

    try:
        accounts = _accounts(args)
    except GaiaLabError as exc:
        print(f"gaia-lab users: error: {exc}", file=sys.stderr)
        return 1
    rows = [
        {
            "account": account.name,
            "hub_user": account.hub_name,
            "uid": account.uid,
            "home": str(account.home),
            "processes": len(processes_of({account.uid})),
        }
        for account in accounts.all()
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(f"No accounts with prefix {accounts.prefix!r}.")
        return 0
    print(f"{'account':<32} {'hub user':<24} {'uid':>6} {'processes':>9}  home")
    for row in rows:
        print(f"{row['account']:<32} {row['hub_user']:<24} {row['uid']:>6} {row['processes']:>9}  {row['home']}")
    return 0


def _users_remove(args: argparse.Namespace) -> int:
    import os

    if bool(args.names) == bool(args.all):
        print("gaia-lab users remove: name accounts or pass --all (not both)", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("gaia-lab users remove: error: only root can delete accounts", file=sys.stderr)
        return 1
    try:
        accounts = _accounts(args)
        if args.all:
            chosen = accounts.all()
        else:
            chosen = []
            for name in args.names:
                account = accounts.find(name)
                if account is None:
                    print(f"gaia-lab users remove: error: no account of this platform for {name!r}", file=sys.stderr)
                    return 1
                chosen.append(account)
        for account in chosen:
            stopped = accounts.remove(account, force=args.force)
            extra = f" (stopped {len(stopped)} process(es))" if stopped else ""
            print(f"removed {account.name} and {account.home}{extra}")
    except GaiaLabError as exc:
        print(f"gaia-lab users remove: error: {exc}", file=sys.stderr)
        return 1
    return 0
