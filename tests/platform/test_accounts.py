"""System accounts of hub users: names, marks, homes, removal, and `gaia-lab users`. The account tests make real
accounts with useradd (root only), with this test session's own prefix, and remove them."""

from __future__ import annotations

import argparse
import json
import os
import pwd
import subprocess
import sys
import time
from pathlib import Path

import pytest
from platform_support import ACCOUNT_PREFIX, IS_ROOT, shared_base

from gaia_lab.errors import ConfigError, PlatformError
from gaia_lab.platform import load_config
from gaia_lab.platform.accounts import NAME_MAX, TAG, Accounts, account_name, comment, processes_of
from gaia_lab.platform.cli_args import add_platform_commands

root_only = pytest.mark.skipif(not IS_ROOT, reason="making system accounts needs root")


@pytest.mark.parametrize(
    ("hub_name", "expected"),
    [
        ("ana", "gaia-ana"),
        ("jean-luc", "gaia-jean-luc"),
        ("x" * 27, "gaia-" + "x" * 27),  # exactly 32
    ],
)
def test_simple_names_keep_their_name(hub_name, expected):
    assert account_name(hub_name, "gaia-") == expected


@pytest.mark.parametrize(
    "hub_name",
    ["marie.curie@example.org", "Ana", "x" * 28, "émile", "a_b", "-x", "a b", "../../etc", "root:0"],
)
def test_other_names_get_a_readable_part_and_a_hash(hub_name):
    name = account_name(hub_name, "gaia-")
    assert len(name) <= NAME_MAX
    assert name.startswith("gaia-")
    tail = name.removeprefix("gaia-")
    assert tail and all(c.isdigit() or ("a" <= c <= "z") or c == "-" for c in tail), name
    assert not tail.startswith("-")
    assert name != account_name(hub_name + "x", "gaia-")  # the hash tells apart names that read alike


def test_names_that_read_alike_get_different_accounts():
    names = {account_name(hub_name, "gaia-") for hub_name in ("a.b", "a_b", "a@b", "a b", "A.B")}
    assert len(names) == 5


def test_an_empty_name_has_no_account():
    with pytest.raises(PlatformError, match="empty") as info:
        account_name("", "gaia-")
    assert info.value.component == "accounts"


def test_the_comment_marks_the_hub_user():
    assert comment("ana") == TAG + "ana"
    assert comment("marie.curie@example.org") == TAG + "marie.curie@example.org"
    # What the comment field cannot hold (":" separates passwd fields) is recorded as a hash.
    assert comment("a:b").startswith(TAG + "sha256:")
    assert ":" not in comment("a:b").removeprefix(TAG).removeprefix("sha256:")


@pytest.fixture
def accounts():
    homes = shared_base() / f"homes-{os.getpid()}-{time.monotonic_ns()}"
    homes.mkdir()
    homes.chmod(0o711)
    made = Accounts(ACCOUNT_PREFIX, homes, homes.parent / f"{homes.name}.lock")
    yield made
    for account in made.all():
        if account.home.is_relative_to(homes):
            made.remove(account, force=True)


@root_only
def test_an_account_is_made_once_with_a_private_home(accounts):
    first = accounts.ensure("zoe")
    entry = pwd.getpwnam(ACCOUNT_PREFIX + "zoe")
    assert (first.name, first.uid, first.home) == (entry.pw_name, entry.pw_uid, accounts.homes_dir / "zoe")
    assert entry.pw_gecos == TAG + "zoe"
    assert entry.pw_uid >= 1000
    info = first.home.stat()
    assert (info.st_uid, info.st_gid, info.st_mode & 0o777) == (first.uid, first.gid, 0o700)
    assert accounts.ensure("zoe") == first  # again: the same account
    # (the session's platform may have made accounts with this prefix too, with homes elsewhere)
    assert [a.name for a in accounts.all() if a.home.is_relative_to(accounts.homes_dir)] == [first.name]
    assert accounts.find("zoe") == accounts.find(first.name) == first
    assert accounts.find("nobody-here") is None


@root_only
def test_an_account_that_is_not_the_platform_s_is_never_used(accounts):
    name = ACCOUNT_PREFIX + "intruder"
    subprocess.run(["useradd", "--no-create-home", "--comment", "somebody else", name], check=True)
    try:
        with pytest.raises(PlatformError, match="exists but is not the GAIA Lab account") as info:
            accounts.ensure("intruder")
        assert info.value.component == "accounts"
        assert accounts.find("intruder") is None  # not listed, never removed by `gaia-lab users remove --all`
    finally:
        subprocess.run(["userdel", name], check=True)


@root_only
def test_removal_refuses_running_processes_unless_forced(accounts):
    account = accounts.ensure("yann")
    sleeper = subprocess.Popen(["sleep", "600"], user=account.uid, group=account.gid, extra_groups=[])
    try:
        assert sleeper.pid in processes_of({account.uid})
        with pytest.raises(PlatformError, match="running process"):
            accounts.remove(account)
        stopped = accounts.remove(account, force=True)
        assert sleeper.pid in stopped
        assert sleeper.wait(10) != 0
    finally:
        if sleeper.poll() is None:
            sleeper.kill()
            sleeper.wait()
    with pytest.raises(KeyError):
        pwd.getpwnam(account.name)
    assert not account.home.exists()


def _cli(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gaia-lab")
    add_platform_commands(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(list(argv))


@root_only
def test_gaia_lab_users_lists_and_removes(accounts, capsys, tmp_path):
    config = tmp_path / "platform.yaml"
    config.write_text(f"account_prefix: {ACCOUNT_PREFIX}\nshared_dir: {accounts.homes_dir.parent}\n")
    for name in ("ugo", "val"):
        accounts.ensure(name)
    args = _cli("users", "list", "-f", str(config), "--json")
    assert args.handler(args) == 0
    rows = {row["hub_user"]: row for row in json.loads(capsys.readouterr().out)}
    assert {"ugo", "val"} <= set(rows)
    assert rows["ugo"]["account"] == ACCOUNT_PREFIX + "ugo"
    assert rows["ugo"]["processes"] == 0
    args = _cli("users", "list", "--prefix", ACCOUNT_PREFIX)
    assert args.handler(args) == 0
    assert ACCOUNT_PREFIX + "val" in capsys.readouterr().out

    args = _cli("users", "remove", "ugo", "--prefix", ACCOUNT_PREFIX)
    assert args.handler(args) == 0
    assert f"removed {ACCOUNT_PREFIX}ugo" in capsys.readouterr().out
    assert accounts.find("ugo") is None
    args = _cli("users", "remove", "nobody", "--prefix", ACCOUNT_PREFIX)
    assert args.handler(args) == 1
    assert "no account of this platform" in capsys.readouterr().err
    args = _cli("users", "remove", "--prefix", ACCOUNT_PREFIX)
    assert args.handler(args) == 2  # neither names nor --all
    args = _cli("users", "remove", "--all", "--prefix", ACCOUNT_PREFIX + "none-")
    assert args.handler(args) == 0  # another prefix: nothing of ours goes
    assert accounts.find("val") is not None


def test_gaia_lab_users_names_a_bad_prefix(capsys):
    args = _cli("users", "list", "--prefix", "Not_Valid")
    assert args.handler(args) == 1
    assert "account_prefix='Not_Valid'" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="account_prefix='9lives'"):
        load_config(None, account_prefix="9lives")


def test_the_cli_is_the_gaia_lab_command():
    # gaia_lab.cli delegates platform subcommands to cli_args: `gaia-lab users list` is there.
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "gaia-lab"), "users", "list", "--prefix", "zz-none-"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "No accounts with prefix 'zz-none-'" in proc.stdout
