"""Warm processes: a server of the environment's Python forks the gateway's schedulers and workers and the hub's
JupyterLab servers. First the server alone (a real server process, real dask commands), then on the session's
platform: a Gateway cluster's scheduler and workers, and users' JupyterLab servers, are warm servers' children and
work; neither warm server holds a secret of the platform."""

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

from gaia_lab.platform.processes import MARKER
from gaia_lab.platform.warm_processes import Identity, WarmProcessError, ready, server_environment, spawn

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


def test_a_request_whose_interpreter_settings_differ_is_refused(warm_server, tmp_path: Path) -> None:
    """PYTHONPATH and the like were read when the server started: a fork would not honour the request's."""
    socket_path, _ = warm_server
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(tmp_path)}
    with pytest.raises(WarmProcessError, match="PYTHONPATH differ"):
        _run(socket_path, tmp_path, [DASK, "--version"], env)


def test_a_server_refuses_to_serve_after_a_module_opened_an_event_loop(tmp_path: Path) -> None:
    """A module creating its event loop at import (as dask_labextension does) would hand every fork the same epoll
    instance: forks then steal each other's events (found as a login hanging 20 s on its OAuth callback)."""
    (tmp_path / "loop_at_import.py").write_text("import asyncio\nLOOP = asyncio.new_event_loop()\n")
    socket_path = str(tmp_path / "warm.sock")
    preload = ["--preload", "json", "--preload", "loop_at_import"]
    done = subprocess.run(
        [sys.executable, "-m", "gaia_lab.platform.warm_processes", "--socket", socket_path, *preload],
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "importing loop_at_import left an event loop (epoll) open" in done.stderr
    assert not os.path.exists(socket_path)


def test_a_server_starts_with_no_variable_but_the_ones_it_needs() -> None:
    starter = {"PATH": "/usr/bin", "LANG": "C.UTF-8", "HUB_TOKEN": "secret", MARKER: "/data", "PYTHONPATH": "/x"}
    assert server_environment(starter, keep=[MARKER]) == {
        "PATH": "/usr/bin",
        "LANG": "C.UTF-8",
        MARKER: "/data",
        "PYTHONPATH": "/x",
    }


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


def _warm_server(socket_path: str, timeout: float = 90.0) -> psutil.Process:
    """The warm server listening at ``socket_path`` (the platform does not wait for the sessions' one to start)."""
    deadline = time.monotonic() + timeout
    while not ready(socket_path):
        assert time.monotonic() < deadline, f"no warm server at {socket_path}"
        time.sleep(0.2)
    servers = [p for p in psutil.process_iter(["cmdline"]) if socket_path in (p.info["cmdline"] or [])]
    assert len(servers) == 1, servers
    return servers[0]


def _new_child(warm: psutil.Process, before: set[int]) -> psutil.Process:
    """The one child of ``warm`` not in ``before`` (``/proc/<pid>/environ`` of a fork shows the server's start-up
    environment, not the user's: the process is told apart by being new)."""
    new = [p for p in warm.children() if p.pid not in before]
    assert len(new) == 1, [(p.pid, p.cmdline()[:1]) for p in warm.children()]
    return new[0]


@pytest.mark.platform
def test_jupyterlab_servers_are_forked_warm_and_serve_their_users(platform, make_user) -> None:
    warm = _warm_server(str(platform.layout.warm_sessions_socket))
    names = ["warmlab0", "warmlab1", "warmlab2"]
    users = [make_user(name) for name in names]
    servers = []
    for user in users:
        before = {child.pid for child in warm.children()}
        user.start_server(timeout=60)
        server = _new_child(warm, before)
        servers.append(server)
        assert server.cmdline()[0].endswith("jupyterhub-singleuser")
        # Three in a row through the browser's way in (OAuth with the hub): each server reaches the hub's API on
        # its own event loop.
        lab = user.session.get(f"{platform.info.hub_url}user/{user.name}/lab", timeout=15)
        assert lab.status_code == 200, lab.text[:300]
    for user, server in zip(users, servers, strict=True):
        # A kernel of the forked server runs the user's code in the user's home, the server's own directory.
        home = user.run("import os; print(os.getcwd())").strip()
        assert server.cwd() == home
        assert os.getsid(server.pid) == server.pid
        if os.geteuid() == 0:
            assert server.username() == platform.accounts.name(user.name)  # type: ignore[union-attr]
    for user, server in zip(users, servers, strict=True):
        user.stop_server()
        _wait_gone(server.pid, timeout=60)


@pytest.mark.platform
def test_warm_servers_hold_none_of_the_platform_secrets(platform, secrets) -> None:
    """What a warm server holds, every fork inherits, and users' code runs in forks (a Dask worker's tasks, a
    JupyterLab server's extensions): their environments carry no token, key or password of the platform."""
    for socket_path in (platform.layout.clusters_dir / "warm.sock", platform.layout.warm_sessions_socket):
        warm = _warm_server(str(socket_path))
        environment = warm.environ()
        assert environment[MARKER] == str(platform.layout.data_dir)
        held = "\0".join(f"{name}={value}" for name, value in environment.items())
        leaked = [
            name for name, value in secrets.items() if isinstance(value, str) and len(value) >= 8 and value in held
        ]
        assert not leaked, (socket_path, leaked)
        assert not any(name.startswith(("JUPYTERHUB_", "DASK_GATEWAY_", "CONFIGPROXY_")) for name in environment)
