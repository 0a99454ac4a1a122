"""Usage accounting on the real platform (the session's, see conftest.py): two users in JupyterHub groups, each with
a server and a Dask Gateway cluster of known size held for a known time, a hub restart in the middle; `gaia-lab usage`
(the command, in a subprocess) reports their core-hours and GiB-hours within 5 %."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from dask_gateway import Gateway, JupyterHubAuth
from dask_gateway.client import ClusterStatus
from dask_gateway_server.backends.base import ClusterConfig
from distributed.versions import VersionMismatchWarning
from hubclient import HubUser

from gaia_lab.platform.config import parse_memory
from gaia_lab.platform.usage_cli import report
from gaia_lab.platform.usage_report import table

pytestmark = [pytest.mark.platform, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
GIB = 2**30
# The platform does not change dask-gateway's scheduler resources: every cluster's scheduler has these.
SCHEDULER = ClusterConfig()
# Seconds each cluster runs with all its workers before the user stops it (a second of timing slop is then ~2 %).
HOLD = 40.0
TOLERANCE = 0.05


def usage_cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "gaia_lab.cli", "usage", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )


def in_process(data_dir: Path, **options: str) -> dict:
    """The report as `gaia-lab usage --json` prints it, without starting a Python per report."""
    return report(data_dir, **{"since": "1h", **options}).to_dict()


def usage_json(data_dir: Path, *args: str) -> dict:
    result = usage_cli(data_dir, "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


class Held:
    """One user's server and cluster, with the times the test saw them start and stop."""

    def __init__(self, platform, user: HubUser, workers: int, worker_cores: int, worker_memory_gib: float) -> None:
        self.platform, self.user = platform, user
        self.workers, self.worker_cores, self.worker_memory = workers, worker_cores, worker_memory_gib * GIB
        self.gateway = Gateway(
            address=platform.info.gateway_url,
            proxy_address=platform.info.gateway_proxy_address,
            auth=JupyterHubAuth(api_token=user.token),
        )

    def start(self) -> None:
        self.server_start = time.time()
        self.user.start_server()
        options = self.gateway.cluster_options()
        options.worker_cores = self.worker_cores
        options.worker_memory = self.worker_memory / GIB
        self.cluster_start = time.time()
        self.cluster = self.gateway.new_cluster(options)
        self.workers_start = time.time()
        self.cluster.scale(self.workers)
        # The test's Python is not the sessions' (the scheduler's): a client here warns of the mismatch, which
        # matters nothing for waiting until the workers have joined.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", VersionMismatchWarning)
            # Not the default client: two users start in parallel threads, and the configs their clients set and
            # restore on close would interleave, leaving dask.distributed as the default scheduler after both closed.
            client = self.cluster.get_client(set_as_default=False)
            client.wait_for_workers(self.workers, timeout=180)
            client.close()

    def stop(self) -> None:
        name = self.cluster.name
        self.cluster.shutdown()
        # The gateway stops clusters in the background (the scheduler may take seconds to exit): wait for STOPPED.
        deadline = time.time() + 60
        while self.gateway.get_cluster(name).status != ClusterStatus.STOPPED and time.time() < deadline:
            time.sleep(0.1)
        self.cluster_stop = time.time()
        self.gateway.close()
        self.user.stop_server()
        deadline = time.time() + 60
        while time.time() < deadline:
            model = self.user.api("GET", f"hub/api/users/{self.user.name}").json()
            if not model.get("servers") and not model.get("pending"):
                break
            time.sleep(0.1)
        self.server_stop = time.time()

    def expected(self, session_cores: float, session_memory: int) -> dict[str, float]:
        session = (self.server_stop - self.server_start) / 3600
        cluster = (self.cluster_stop - self.cluster_start) / 3600
        workers = self.workers * (self.cluster_stop - self.workers_start) / 3600
        return {
            "session_core_hours": session * session_cores,
            "session_gib_hours": session * session_memory / GIB,
            "cluster_core_hours": cluster * SCHEDULER.scheduler_cores + workers * self.worker_cores,
            "cluster_gib_hours": (cluster * SCHEDULER.scheduler_memory + workers * self.worker_memory) / GIB,
        }


def _rows(report: dict) -> dict[str, dict]:
    return {row["name"]: row for row in report["rows"]}


def _assert_close(row: dict, expected: dict[str, float], who: str) -> None:
    print(who, {key: f"{row[key] / value - 1:+.2%}" for key, value in expected.items()})
    for key, value in expected.items():
        assert row[key] == pytest.approx(value, rel=TOLERANCE), (who, key, row[key], value)


def test_usage_of_two_users_with_groups_across_a_hub_restart(platform, make_user, secrets):
    data_dir = platform.layout.data_dir
    config = platform.config
    session_cores = config.session_cpu_limit
    session_memory = parse_memory(config.session_mem_limit)
    assert session_cores > 0 and session_memory > 0, "the test needs sessions with limits"

    ann, ben = make_user("usage-ann"), make_user("usage-ben")
    admin = make_user_as_admin(platform, secrets)
    for group, members in (("usage-ocean", ["usage-ann", "usage-ben"]), ("usage-land", ["usage-ben"])):
        answer = admin.api("POST", f"hub/api/groups/{group}", json={"users": members})
        assert answer.status_code in (201, 409), answer.text

    ann_held = Held(platform, ann, workers=1, worker_cores=1, worker_memory_gib=0.5)
    ben_held = Held(platform, ben, workers=2, worker_cores=1, worker_memory_gib=1.0)
    with ThreadPoolExecutor(2) as pool:
        for started in [pool.submit(ann_held.start), pool.submit(ben_held.start)]:
            started.result()

    time.sleep(max(0.0, ann_held.workers_start + HOLD - time.time()))
    ann_held.stop()
    ann_expected = ann_held.expected(session_cores, session_memory)

    before = _rows(in_process(data_dir))
    _assert_close(before["usage-ann"], ann_expected, "ann")
    assert before["usage-ann"]["sessions"] == 1
    assert before["usage-ann"]["clusters"] == 1 and before["usage-ann"]["workers"] == 1
    # Ben's server and cluster still run: counted up to now.
    ben_running = before["usage-ben"]
    assert ben_running["sessions"] == 1 and ben_running["workers"] == 2

    took = platform.restart("jupyterhub")
    print(f"hub restarted in {took:.1f} s")
    assert ben.api("GET", "user/usage-ben/api/status").status_code == 200  # the server outlived the restart

    after = _rows(in_process(data_dir))
    assert after["usage-ann"] == before["usage-ann"], "closed records changed across the hub restart"
    assert after["usage-ben"]["session_core_hours"] > ben_running["session_core_hours"]
    assert after["usage-ben"]["sessions"] == 1, "the restart split or lost the running server's record"

    time.sleep(max(0.0, ben_held.workers_start + HOLD - time.time()))
    ben_held.stop()
    ben_expected = ben_held.expected(session_cores, session_memory)

    rows = _rows(usage_json(data_dir, "--since", "1h", "--by", "user"))  # the command itself
    _assert_close(rows["usage-ann"], ann_expected, "ann")
    _assert_close(rows["usage-ben"], ben_expected, "ben")
    assert rows["usage-ben"]["sessions"] == 1 and rows["usage-ben"]["clusters"] == 1
    assert rows["usage-ben"]["workers"] == 2

    groups = _rows(in_process(data_dir, by="group"))
    both = {key: ann_expected[key] + ben_expected[key] for key in ann_expected}
    _assert_close(groups["usage-ocean"], both, "group usage-ocean")
    _assert_close(groups["usage-land"], ben_expected, "group usage-land")
    assert groups["usage-ocean"]["users"] == ["usage-ann", "usage-ben"]

    # A period that ends before anything ran holds none of it; the table names both users.
    old = _rows(in_process(data_dir, since="3h", until="2h"))
    assert "usage-ann" not in old and "usage-ben" not in old
    text = table(report(data_dir, since="1h"))
    assert "usage-ann" in text and "usage-ben" in text and "core-h" in text


def test_usage_names_a_bad_period(platform):
    result = usage_cli(platform.layout.data_dir, "--since", "last tuesday")
    assert result.returncode == 2
    assert "invalid since='last tuesday'" in result.stderr
    assert "Traceback" not in result.stderr


def make_user_as_admin(platform, secrets) -> HubUser:
    admin = HubUser(platform.info.hub_url, platform.config.admin_users[0], secrets["admin_password"])
    admin.login()
    admin.create_token()
    return admin
