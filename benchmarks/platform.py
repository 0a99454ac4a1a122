"""The platform, end to end on this machine: login -> JupyterLab ready, and cluster request -> first result on
Dask Gateway versus a LocalCluster started in the same run, both through gl.cluster().

Goals (issue 4): login -> JupyterLab ready < 5 s; Gateway cluster request -> first result < 5 s.
Run: python -m benchmarks.platform [--users 3] [--clusters 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import dask.config
import dask_gateway  # noqa: F401  (loads its config defaults now, not inside a dask.config.set that would undo them)
import requests

from benchmarks.common import median, print_table, record
from gaia_lab.cluster import cluster
from gaia_lab.platform import Platform, load_config

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from hubclient import HubUser

PORTS = dict.fromkeys(
    ("port", "hub_port", "proxy_api_port", "gateway_port", "gateway_tcp_port", "gateway_api_port", "lake_port"), 0
)


def lake_dir() -> Path:
    if lake := os.environ.get("GAIA_LAB_TEST_LAKE"):
        return Path(lake)
    from benchmarks.common import demo_lake

    return demo_lake()


def login_to_lab(base: str, name: str, password: str) -> float:
    """Seconds from the login POST to JupyterLab's page answering 200 (spawn included)."""
    user = HubUser(base, name, password)
    started = time.perf_counter()
    user.login()
    user.create_token()
    user.start_server()
    lab = user.session.get(f"{base}user/{name}/lab", timeout=60)
    lab.raise_for_status()
    took = time.perf_counter() - started
    user.stop_server()
    return took


def first_result(settings: dict) -> float:
    """Seconds from gl.cluster() (one worker) to the first task's result, with the given dask config."""
    started = time.perf_counter()
    with dask.config.set(settings), cluster(n_workers=1, adaptive=None, worker_memory="1 GiB") as client:
        assert client.submit(sum, range(10)).result(timeout=120) == 45
        return time.perf_counter() - started


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=3, help="logins measured one after the other")
    parser.add_argument("--clusters", type=int, default=3, help="cluster requests measured per kind")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="gaia-lab-bench-") as data_dir:
        # One account for every session, as measured before per-user accounts existed: the timings compare with
        # earlier runs (tests/platform/bench_users.py measures a class of 30 with an account each).
        settings = {"data_dir": data_dir, "lake_dir": str(lake_dir()), "user_accounts": "shared", **PORTS}
        platform = Platform(load_config(None, **settings), out=lambda s: None)
        started = time.perf_counter()
        platform.start()
        startup = time.perf_counter() - started
        try:
            assert platform.secrets is not None
            base, password = platform.info.hub_url, platform.secrets.user_password
            logins = [login_to_lab(base, f"bench{i}", password) for i in range(args.users)]
            user = HubUser(base, "benchgw", password)
            user.login()
            token = user.create_token()
            gateway = {
                "gateway.address": platform.info.gateway_url,
                "gateway.proxy-address": platform.info.gateway_proxy_address,
                "gateway.auth.type": "jupyterhub",
                "gateway.auth.kwargs": {"api_token": token},
            }
            gateway_times = [first_result(gateway) for _ in range(args.clusters)]
            local_times = [first_result({"gateway.address": None}) for _ in range(args.clusters)]
            requests.get(f"{base}hub/health", timeout=10).raise_for_status()
        finally:
            platform.stop(quiet=True)

    login, gateway, local = median(logins), median(gateway_times), median(local_times)
    print_table(
        f"Platform on this machine ({os.cpu_count()} cores), medians of {args.users} logins / {args.clusters} clusters",
        [
            ("platform start-up (4 components)", f"{startup:.1f} s", ""),
            ("login -> JupyterLab ready", f"{login:.1f} s", "goal < 5 s"),
            ("Gateway: request -> first result", f"{gateway:.1f} s", "goal < 5 s"),
            ("LocalCluster: start -> first result", f"{local:.1f} s", "same run, for comparison"),
            ("Gateway / LocalCluster", f"{gateway / local:.2f}x", ""),
            ("login / Gateway cluster", f"{login / gateway:.2f}x", ""),
        ],
    )
    result: dict[str, object] = {
        "startup_s": round(startup, 2),
        "login_to_lab_s": [round(t, 2) for t in logins],
        "gateway_first_result_s": [round(t, 2) for t in gateway_times],
        "local_first_result_s": [round(t, 2) for t in local_times],
        "login_to_lab_median_s": round(login, 2),
        "gateway_median_s": round(gateway, 2),
        "local_median_s": round(local, 2),
        "gateway_over_local": round(gateway / local, 2),
        "goals_met": {"login_lt_5s": login < 5, "gateway_lt_5s": gateway < 5},
    }
    record("platform", result)
    return result


if __name__ == "__main__":
    main()
