"""Fixtures shared across the suite: the demo data lake, built once per session from real package data, and the
platform, started once per session for the platform and notebook tests."""

from __future__ import annotations

import json
import os
import shutil
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

# The hypothesis pytest plugin imports hypothesis at the terminal summary when no test used it; on CPython 3.11.7
# that late import, deep in pluggy's call stack, can fail with "AST constructor recursion depth mismatch".
import hypothesis  # noqa: F401
import pytest

import gaia_lab as gl
from gaia_lab.datalake import build_lake

sys.path.insert(0, str(Path(__file__).parent))  # hubclient, platform_support

from hubclient import HubUser
from platform_support import IS_ROOT, platform_config, remove_test_accounts, shared_dir_for
from s3_server import s3_lake  # noqa: F401  (the session's S3 server, a fixture)

# pygeoapi's wheel installs a top-level regular package named "tests" into site-packages; a regular package wins
# over this directory (a namespace package: `from tests.cube.odc_reference import ...`) wherever it is on sys.path.
_tests_package = types.ModuleType("tests")
_tests_package.__path__ = [str(Path(__file__).parent)]
sys.modules["tests"] = _tests_package

# Session-scoped servers used by several test packages (one instance per session wherever they are used).
pytest_plugins = ["opendap_server"]

if TYPE_CHECKING:
    from gaia_lab.platform import Platform

ROOT = Path(__file__).resolve().parents[1]
# The folder `gaia-lab up --workshop` copies into every new user's home; the session's platform uses the
# repository's notebooks, so the notebook tests run them as a workshop participant does.
WORKSHOP_DIR = ROOT / "notebooks"


@pytest.fixture(scope="session")
def lake_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo lake, built once per test session (reusing $GAIA_LAB_TEST_LAKE_CACHE when set, to run faster)."""
    cache = os.environ.get("GAIA_LAB_TEST_LAKE_CACHE")
    directory = Path(cache) if cache else tmp_path_factory.mktemp("lake")
    build_lake(directory)
    return directory


@pytest.fixture(scope="session")
def lake_catalog(lake_dir: Path) -> gl.Catalog:
    return gl.open_catalog(lake_dir / "federation.yaml")


@pytest.fixture
def lake_copy(lake_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the lake that a test may damage (delete chunks, truncate files)."""
    target = tmp_path / "lake"
    shutil.copytree(lake_dir, target, ignore=shutil.ignore_patterns("*.partial"))
    return target


@pytest.fixture(scope="session", autouse=True)
def _remove_test_accounts() -> Iterator[None]:
    """Run as root, platforms make system accounts (prefix of this session's own): all go at the end, failed or not."""
    yield
    if IS_ROOT:
        remove_test_accounts()


@pytest.fixture(scope="session")
def platform(tmp_path_factory: pytest.TempPathFactory, lake_dir: Path) -> Iterator[Platform]:
    """The platform, started once per session on random loopback ports in a temporary data dir.

    Run as root (CI), every user runs as a system account of its own, and the lake is a copy in the shared directory,
    world-readable and read-only as in a real installation; otherwise all sessions share this account.
    """
    from gaia_lab.platform import Platform
    from gaia_lab.platform.processes import marked_pids

    data_dir = tmp_path_factory.mktemp("platform")
    lake = lake_dir
    if IS_ROOT:
        shared = shared_dir_for(data_dir)
        shared.mkdir(parents=True)
        lake = shared / "lake"
        shutil.copytree(lake_dir, lake, ignore=shutil.ignore_patterns("*.partial"))
    lines: list[str] = []
    # With Prometheus and the exporter (tests/platform/test_metrics_up.py), scraping every 2 s.
    config = platform_config(
        data_dir,
        lake,
        workshop_dir=str(WORKSHOP_DIR),
        metrics=True,
        metrics_scrape_interval="2s",
    )
    running = Platform(config, out=lines.append)
    running.start()
    print("\n".join(lines))
    try:
        yield running
    finally:
        running.stop(quiet=True)
        left = marked_pids(str(running.layout.data_dir))
        if running.accounts is not None:
            from gaia_lab.platform.accounts import processes_of

            left += processes_of(running.accounts.uids())
        assert not left, f"processes left behind: {left}"


@pytest.fixture(scope="session")
def secrets(platform: Platform) -> dict[str, str]:
    secrets: dict[str, str] = json.loads((platform.layout.data_dir / "secrets.json").read_text())
    return secrets


@pytest.fixture(scope="session")
def make_user(platform: Platform, secrets: dict[str, str]) -> Callable[[str], HubUser]:
    """Log a user in (any name, the shared user password) and give them an API token."""

    def make(name: str) -> HubUser:
        user = HubUser(platform.info.hub_url, name, secrets["user_password"])
        user.login()
        user.create_token()
        return user

    return make
