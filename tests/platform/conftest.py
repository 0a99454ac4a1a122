"""The platform, started once per session on random loopback ports in a temporary data dir."""

from __future__ import annotations

import json
import sys
from pathlib import Path

# The hypothesis pytest plugin imports hypothesis at the terminal summary when no test used it; on CPython 3.11.7
# that late import, deep in pluggy's call stack, can fail with "AST constructor recursion depth mismatch".
import hypothesis  # noqa: F401
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from hubclient import HubUser

from gaia_lab.platform import Platform, load_config
from gaia_lab.platform.processes import marked_pids

ZERO_PORTS = dict.fromkeys(
    ("port", "hub_port", "proxy_api_port", "gateway_port", "gateway_tcp_port", "gateway_api_port", "lake_port"), 0
)


def platform_config(data_dir: Path, lake: Path, **overrides):
    settings = {
        "data_dir": str(data_dir),
        **ZERO_PORTS,
        "lake_dir": str(lake),
        "spawn_timeout": 240,
        "max_workers": 4,
        "worker_memory": "1 GiB",
        "worker_memory_max": "4 GiB",
        "max_clusters_per_user": 2,
    }
    settings.update(overrides)
    return load_config(None, **settings)


@pytest.fixture(scope="session")
def platform(tmp_path_factory, lake_dir):
    data_dir = tmp_path_factory.mktemp("platform")
    lines: list[str] = []
    running = Platform(platform_config(data_dir, lake_dir), out=lines.append)
    running.start()
    print("\n".join(lines))
    try:
        yield running
    finally:
        running.stop(quiet=True)
        left = marked_pids(str(running.layout.data_dir))
        assert not left, f"processes left behind: {left}"


@pytest.fixture(scope="session")
def secrets(platform):
    return json.loads((platform.layout.data_dir / "secrets.json").read_text())


@pytest.fixture(scope="session")
def make_user(platform, secrets):
    def make(name: str) -> HubUser:
        user = HubUser(platform.info.hub_url, name, secrets["user_password"])
        user.login()
        user.create_token()
        return user

    return make
