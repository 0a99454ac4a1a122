"""Dask Gateway on a real Slurm (munged, slurmctld, slurmd from Debian, started once per test session).

A notebook on the hub asks `gl.cluster(profile="hpc")`: the scheduler and workers are Slurm jobs of the user's own
system account, the cluster computes what a LocalCluster computes, and once it is shut down its jobs leave the
queue. Jobs Slurm refuses (unknown partition, over a partition's time limit) raise ClusterError naming Slurm's
reason; options over the platform's limits are refused before Slurm sees them. `gaia-lab down` cancels the jobs a
crashed platform left in the queue.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hubclient import HubUser
from platform_support import IS_ROOT, ROOT, platform_config, shared_base, shared_dir_for

from gaia_lab.errors import ClusterError
from gaia_lab.platform.slurm import LocalSlurm, SlurmSettings, job_comment

pytestmark = [pytest.mark.platform, pytest.mark.slow]

USER = "hpcana"


@pytest.fixture(scope="session")
def slurm() -> Iterator[LocalSlurm]:
    """A Slurm of this test session: one node with this machine's CPUs and memory, partitions 'gaia' (default,
    2 h) and 'short' (10 min), daemons on free loopback ports. Under the shared base, which the accounts traverse
    (their sbatch reads slurm.conf and talks to munged's socket)."""
    running = LocalSlurm(SlurmSettings(shared_base() / "slurm"))
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def hpc_platform(tmp_path_factory: pytest.TempPathFactory, lake_dir: Path, slurm: LocalSlurm) -> Iterator[object]:
    from gaia_lab.platform import Platform

    data_dir = tmp_path_factory.mktemp("platform-hpc")
    lake = lake_dir
    if IS_ROOT:
        shared = shared_dir_for(data_dir)
        shared.mkdir(parents=True)
        lake = shared / "lake"
        shutil.copytree(lake_dir, lake, ignore=shutil.ignore_patterns("*.partial"))
    config = platform_config(
        data_dir,
        lake,
        slurm=True,
        slurm_conf=str(slurm.conf_file),
        hpc_limits={"worker_memory_gib": {"default": 1.0, "max": 2.0}, "walltime_minutes": {"default": 30, "max": 120}},
        metadata_catalogues=False,
        opendap=False,
    )
    running = Platform(config, out=lambda line: None)
    running.start()
    comment = job_comment(running.layout.data_dir)
    try:
        yield running
    finally:
        running.stop(quiet=True)
        # Stopping the platform cancels whatever its HPC gateway left in the queue.
        assert slurm.jobs(comment) == []


def _user(platform: object) -> HubUser:
    layout = platform.layout  # type: ignore[attr-defined]
    secrets = json.loads((layout.data_dir / "secrets.json").read_text())
    user = HubUser(platform.info.hub_url, USER, secrets["user_password"])  # type: ignore[attr-defined]
    user.login()
    user.create_token()
    return user


SESSION = r"""
import getpass, json, os, subprocess
import dask.array as da
from distributed import Client, LocalCluster
import gaia_lab as gl

x = da.random.RandomState(17).random_sample((3000, 2000), chunks=(500, 500))
computation = (x ** 2 + 1).mean(axis=0).std()
result = {"address": os.environ.get("GAIA_LAB_HPC_GATEWAY_ADDRESS")}
with gl.cluster(profile="hpc", n_workers=2, worker_memory="1 GiB", worker_cores=1, adaptive=None,
                partition="gaia", walltime_minutes=20) as client:
    result["kind"] = type(client.cluster).__name__
    result["workers"] = len(client.scheduler_info()["workers"])
    result["hpc"] = float(computation.compute())
    result["worker_jobs"] = sorted(client.run(lambda: [getpass.getuser(), os.environ.get("SLURM_JOB_ID"),
                                                       os.environ.get("SLURM_JOB_PARTITION")]).values())
    result["scheduler_job"] = client.run_on_scheduler(lambda: [getpass.getuser(), os.environ.get("SLURM_JOB_ID")])
    queue = subprocess.run(["squeue", "-h", "-o", "%i|%u|%j|%T"], capture_output=True, text=True,
                           env={**os.environ, "SLURM_CONF": SLURM_CONF})
    result["queue"] = [line.split("|") for line in queue.stdout.splitlines()]
with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                  dashboard_address="127.0.0.1:0") as local, Client(local):
    result["local"] = float(computation.compute())
result["me"] = getpass.getuser()
print("RESULT" + json.dumps(result))
"""


def test_hpc_cluster_runs_as_the_users_slurm_jobs_and_matches_a_local_cluster(hpc_platform, slurm) -> None:  # type: ignore[no-untyped-def]
    user = _user(hpc_platform)
    user.start_server()
    started = time.monotonic()
    try:
        code = f"SLURM_CONF = {str(slurm.conf_file)!r}\n" + SESSION
        out = user.run(code, kernel_id=user.start_kernel(), timeout=400)
    finally:
        user.stop_server()
    print(f"HPC cluster, 2 workers, compute, LocalCluster: {time.monotonic() - started:.1f} s")
    line = next(line for line in out.splitlines() if line.startswith("RESULT"))
    result = json.loads(line[len("RESULT") :])
    assert result["address"].endswith("/services/dask-gateway-hpc")
    assert result["kind"] == "GatewayCluster" and result["workers"] == 2
    assert result["hpc"] == pytest.approx(result["local"], rel=1e-12)
    account = result["me"]  # the session's account is the one its Slurm jobs run as
    if IS_ROOT:
        assert account != "root" and account.endswith(USER)
    job_ids = [job_id for _user, job_id, _partition in result["worker_jobs"]]
    assert all(job_ids) and len(set(job_ids)) == 2, result
    assert {job_user for job_user, _id, _p in result["worker_jobs"]} == {account}
    assert {partition for _u, _id, partition in result["worker_jobs"]} == {"gaia"}
    scheduler_user, scheduler_job = result["scheduler_job"]
    assert scheduler_user == account and scheduler_job not in job_ids
    # Slurm's own view while the cluster ran: three running jobs of the account, named as the platform names them.
    queued = {job_id: (job_user, name, state) for job_id, job_user, name, state in result["queue"]}
    for job_id in [*job_ids, scheduler_job]:
        assert queued[job_id] == (account, "gaia-lab-dask", "RUNNING"), result["queue"]
    # Shut down on leaving gl.cluster(): its jobs leave the queue.
    deadline = time.monotonic() + 60
    mine = {*job_ids, scheduler_job}
    while mine & {job["id"] for job in slurm.jobs()} and time.monotonic() < deadline:
        time.sleep(1)
    assert not mine & {job["id"] for job in slurm.jobs()}, slurm.jobs()


def _hpc_client_env(platform: object, user: HubUser, monkeypatch: pytest.MonkeyPatch) -> None:
    """This test process as a session of ``user``: the HPC gateway's addresses and the user's hub token."""
    import dask.config

    from gaia_lab.platform import hpc_gateway

    ports = platform.info.ports  # type: ignore[attr-defined]
    for name, value in hpc_gateway.session_environment("127.0.0.1", ports).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", str(user.token))
    monkeypatch.setitem(
        dask.config.config, "gateway", {**dask.config.get("gateway", {}), "auth": {"type": "jupyterhub"}}
    )


def _start(**options: object) -> None:
    import gaia_lab as gl

    with gl.cluster(profile="hpc", n_workers=1, adaptive=None, **options):
        pass


def test_jobs_slurm_refuses_raise_cluster_error_naming_its_reason(hpc_platform, slurm, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    user = _user(hpc_platform)
    _hpc_client_env(hpc_platform, user, monkeypatch)
    before = {job["id"] for job in slurm.jobs()}
    with pytest.raises(ClusterError, match=r"Slurm refused.*partition 'nowhere'.*[Ii]nvalid partition") as refused:
        _start(partition="nowhere")
    print(refused.value)
    # Within the platform's limits (120 min) but over the 'short' partition's own (10 min): Slurm says so.
    with pytest.raises(ClusterError, match=r"Slurm refused.*partition 'short'.*time limit") as refused:
        _start(partition="short", walltime_minutes=60)
    print(refused.value)
    # Over the platform's own limits: refused before Slurm sees anything, naming the option.
    with pytest.raises(ClusterError, match=r"walltime_minutes=500 is outside what the gateway allows: 1 to 120"):
        _start(walltime_minutes=500)
    with pytest.raises(ClusterError, match=r"worker_memory=8 GiB is outside"):
        _start(worker_memory="8 GiB")
    with pytest.raises(ClusterError, match=r"partition 'a;b'"):
        _start(partition="a;b")
    # Nothing was submitted for any of them.
    assert {job["id"] for job in slurm.jobs()} == before


def test_down_cancels_the_jobs_a_crashed_platform_left(slurm, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A supervisor that died (its pid gone) left jobs of its HPC clusters queued and running: `gaia-lab down`
    cancels those, by the platform's comment, and no other job."""
    data_dir = tmp_path / "crashed"
    data_dir.mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    comment = job_comment(data_dir)
    state = {"pid": dead.pid, "slurm_conf": str(slurm.conf_file), "slurm_job_comment": comment}
    (data_dir / "platform.pid").write_text(json.dumps(state))

    def submit(job_comment_: str) -> str:
        done = subprocess.run(
            ["sbatch", "--parsable", f"--comment={job_comment_}", "--job-name=gaia-lab-dask", "--mem=64M", "-t", "5",
             "--output=/dev/null", "--chdir=/tmp", "--wrap", "sleep 300"],
            capture_output=True, text=True, env=slurm.client_env(), check=True,
        )  # fmt: skip
        return done.stdout.strip()

    leftovers = [submit(comment), submit(comment)]
    other = submit("gaia-lab:/some/other/platform")
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(j["state"] != "RUNNING" for j in slurm.jobs(comment)):
            time.sleep(0.5)
        assert {job["id"] for job in slurm.jobs(comment)} == set(leftovers)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        down = subprocess.run(
            [sys.executable, "-m", "gaia_lab.cli", "down", "--data-dir", str(data_dir)],
            capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
        )  # fmt: skip
        assert down.returncode == 0, down.stderr
        remaining = {job["id"] for job in slurm.jobs()}
        assert not remaining & set(leftovers)
        assert other in remaining
    finally:
        subprocess.run(["scancel", other], env=slurm.client_env(), check=False)
