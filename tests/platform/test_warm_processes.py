"""Warm processes: a server of the environment's Python forks the gateway's schedulers and workers. First the server
alone (a real server process, real dask commands), then on the session's platform: a Gateway cluster's scheduler and
workers are the warm server's children and compute."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from gaia_lab.platform.warm_processes import Identity, WarmProcessError, ready, spawn

DASK = str(Path(sys.executable).parent / "dask")


@pytest.fixture(scope="module")
def warm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    socket_path = str(tmp_path_factory.mktemp("warm") / "warm.sock")
    server = subprocess.Popen(
        [sys.executable, "-m", "gaia_lab.platform.warm_processes", "--socket", socket_path],
        stdin=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while not ready(socket_path):
            assert server.poll() is None, server.stderr.read() if server.stderr else b""
            assert time.monotonic() < deadline, "the warm-process server did not start"
            time.sleep(0.1)
        yield socket_path, server
    finally:
        server.terminate()
        server.wait(timeout=10)
        if server.stderr is not None:
            server.stderr.close()


def _wait_gone(pid: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while psutil.pid_exists(pid):
        assert time.monotonic() < deadline, f"process {pid} still exists (not reaped)"
        time.sleep(0.05)


def _run(
    socket_path: str,
    tmp_path: Path,
    argv: list[str],
    env: dict[str, str],
    *,
    identity: Identity | None = None,
    cwd: str | None = None,
) -> tuple[int, Path]:
    log = tmp_path / f"{len(list(tmp_path.iterdir()))}.log"
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        return spawn(socket_path, argv, env, cwd=cwd or str(tmp_path), log_fd=fd, identity=identity), log
    finally:
        os.close(fd)


def test_a_forked_command_reads_its_own_environment_and_is_reaped(warm_server, tmp_path: Path) -> None:
    socket_path, _ = warm_server
    env = {"PATH": os.environ["PATH"], "DASK_DISTRIBUTED__SCHEDULER__BANDWIDTH": "123456"}
    pid, log = _run(socket_path, tmp_path, [DASK, "config", "get", "distributed.scheduler.bandwidth"], env)
    _wait_gone(pid)
    # dask's configuration was read again from the request's environment, not the server's.
    assert log.read_text().strip() == "123456"


def test_commands_outside_its_environment_are_refused(warm_server, tmp_path: Path) -> None:
    socket_path, _ = warm_server
    for argv in (["/bin/sh", "-c", "true"], ["/elsewhere/bin/dask", "scheduler"], []):
        with pytest.raises(WarmProcessError, match=r"not one of this environment's commands|empty command"):
            _run(socket_path, tmp_path, argv, {})
    # Still serving.
    pid, _ = _run(socket_path, tmp_path, [DASK, "--version"], {"PATH": os.environ["PATH"]})
    _wait_gone(pid)


@pytest.mark.skipif(os.geteuid() != 0, reason="switching accounts needs root")
def test_a_scheduler_runs_as_the_given_account_in_its_own_session(
    warm_server, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    socket_path, server = warm_server
    # A working directory the account may enter (pytest's own are its owner's only).
    workdir = Path(tempfile.mkdtemp(prefix="gaia-lab-warm-", dir="/tmp"))
    workdir.chmod(0o777)
    request.addfinalizer(lambda: shutil.rmtree(workdir, ignore_errors=True))
    argv = [DASK, "scheduler", "--host", "127.0.0.1", "--port", "0", "--dashboard-address", "127.0.0.1:0"]
    nobody = Identity(65534, 65534, (65534,))
    pid, log = _run(socket_path, tmp_path, argv, {"PATH": os.environ["PATH"]}, identity=nobody, cwd=str(workdir))
    try:
        deadline = time.monotonic() + 30
        while "Scheduler at" not in log.read_text():
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        process = psutil.Process(pid)
        assert process.ppid() == server.pid
        assert process.uids().real == process.uids().effective == 65534
        assert process.gids().real == 65534
        assert os.getsid(pid) == pid
        assert process.cwd() == str(workdir)
        # ps shows what it runs, not the server's command line.
        assert process.cmdline()[: len(argv)] == argv
        assert process.name() == "dask"
    finally:
        os.kill(pid, 2)
        _wait_gone(pid)


@pytest.mark.platform
# The client is this test's Python, the cluster the sessions' environment: distributed compares them and warns.
@pytest.mark.filterwarnings("ignore::distributed.versions.VersionMismatchWarning")
def test_gateway_clusters_are_forked_warm_and_compute(platform, make_user) -> None:
    from dask_gateway import Gateway, JupyterHubAuth

    socket_path = str(platform.layout.clusters_dir / "warm.sock")
    servers = [p for p in psutil.process_iter(["cmdline"]) if socket_path in (p.info["cmdline"] or [])]
    assert len(servers) == 1, servers
    server = servers[0]
    user = make_user("warmuser")
    gateway = Gateway(
        address=platform.info.gateway_url,
        proxy_address=platform.info.gateway_proxy_address,
        auth=JupyterHubAuth(api_token=user.token),
    )
    with gateway, gateway.new_cluster() as cluster:
        cluster.scale(1)
        with cluster.get_client() as client:
            client.wait_for_workers(1, timeout=120)
            assert client.submit(sum, range(10)).result(timeout=120) == 45
            scheduler_pid = client.run_on_scheduler(os.getpid)
            worker_parents = client.run(os.getppid)
        children = {child.pid for child in server.children()}
        # The scheduler and the worker's nanny are the warm server's own forks (the nanny starts the worker).
        assert scheduler_pid in children
        (nanny_pid,) = worker_parents.values()
        assert nanny_pid in children
    _wait_gone(scheduler_pid, timeout=60)
