"""Settings for platforms started by the tests: random loopback ports, small limits, a temporary data dir, the
sessions' Python environment, and, run as root, system accounts with a prefix of this test session's own."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from pathlib import Path

import pytest

from gaia_lab.platform import PlatformConfig, load_config
from gaia_lab.platform.accounts import Accounts, stop_processes_of
from gaia_lab.platform.config import PORT_NAMES

ROOT = Path(__file__).resolve().parents[1]
ZERO_PORTS = dict.fromkeys(PORT_NAMES, 0)
# What sessions, schedulers and workers run: the notebook image's packages (scripts/setup.d/35-session-env.sh).
SESSION_PYTHON = ROOT / ".venv-sessions" / "bin" / "python"
# Accounts made by this test session: a prefix of its own, so that cleaning up touches nothing else.
ACCOUNT_PREFIX = f"gt{secrets.token_hex(3)}-"
IS_ROOT = os.geteuid() == 0
_shared_base: Path | None = None


def session_python() -> str:
    if not SESSION_PYTHON.exists():
        pytest.fail(f"{SESSION_PYTHON} is missing: run scripts/setup.sh (it builds the sessions' environment)")
    return str(SESSION_PYTHON)


def shared_base() -> Path:
    """This test session's directory for the platforms' shared directories: outside the temporary directories
    (/tmp/pytest-of-root is 0700, so no account could reach a home there), traversable, removed at the end."""
    global _shared_base
    if _shared_base is None:
        _shared_base = Path(tempfile.mkdtemp(prefix=f"gaia-lab-{ACCOUNT_PREFIX}", dir="/var/tmp"))
        _shared_base.chmod(0o711)
    return _shared_base


def shared_dir_for(data_dir: Path) -> Path:
    return shared_base() / data_dir.resolve().name


def platform_config(data_dir: Path, lake: Path, **overrides: object) -> PlatformConfig:
    settings: dict[str, object] = {
        "data_dir": str(data_dir),
        **ZERO_PORTS,
        "lake_dir": str(lake),
        "spawn_timeout": 240,
        "max_workers": 4,
        "worker_memory": "1 GiB",
        "worker_memory_max": "4 GiB",
        "max_clusters_per_user": 2,
        "python": session_python(),
        "account_prefix": ACCOUNT_PREFIX,
        # Processing jobs run gaia_lab code on the users' workers: this checkout's, whatever the sessions' env holds.
        "processes_worker_environment": {"PYTHONPATH": str(ROOT)},
        "processes_idle_timeout": 60.0,
    }
    if IS_ROOT:
        settings["shared_dir"] = str(shared_dir_for(Path(data_dir)))
    settings.update(overrides)
    return load_config(None, **settings)


def remove_test_accounts() -> list[str]:
    """Remove every account this test session made (whatever platform made it), then the shared directories."""
    removed = []
    accounts = Accounts(ACCOUNT_PREFIX, "/")
    found = accounts.all()
    stop_processes_of({account.uid for account in found})
    for account in found:
        accounts.remove(account, force=True)
        removed.append(account.name)
    if _shared_base is not None:
        shutil.rmtree(_shared_base, ignore_errors=True)
    return removed
