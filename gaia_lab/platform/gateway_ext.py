"""dask-gateway-server classes the platform plugs in (imported by the gateway process, named in its config).

- :class:`HubAuthenticator`: the stock JupyterHubAuthenticator answers HTTP 500 when the hub rejects a token
  (the hub says 403); a rejected token is the client's fault, so answer 401.
- :class:`SystemUserLocalBackend` (the platform started as root): dask-gateway's ``LocalBackend``, schedulers and
  workers running as the hub user's own system account, their TLS material readable by that account only.
- :class:`LimitedLocalBackend` (started as a normal user): ``UnsafeLocalBackend``, every cluster running as the
  platform's account.

Both cap the running clusters per user, which dask-gateway does not offer, record clusters and workers in the
usage database (:mod:`gaia_lab.platform.usage_gateway`), serve ``/api/metrics`` with ``gaia-lab up --metrics``
(:mod:`gaia_lab.platform.gateway_metrics`), and fork schedulers and workers from a warm process
(:mod:`gaia_lab.platform.warm_processes`) when ``warm_python`` names the sessions' Python.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web
from dask_gateway_server.auth import JupyterHubAuthenticator
from dask_gateway_server.backends.base import PublicException
from dask_gateway_server.backends.local import LocalBackend, UnsafeLocalBackend
from traitlets import Bool, Float, Integer, List, Unicode

from gaia_lab.platform.account_traits import AccountSettings
from gaia_lab.platform.accounts import Account
from gaia_lab.platform.gateway_metrics import GatewayMetricsMixin
from gaia_lab.platform.processes import MARKER
from gaia_lab.platform.usage_gateway import UsageRecordingMixin
from gaia_lab.platform.warm_processes import (
    DEFAULT_PRELOAD,
    Identity,
    WarmProcessError,
    identity_of,
    ready,
    server_environment,
    spawn,
    switch_to,
)


class HubAuthenticator(JupyterHubAuthenticator):  # type: ignore[misc]
    async def authenticate(self, request: web.Request) -> Any:
        try:
            return await super().authenticate(request)
        except web.HTTPInternalServerError as exc:
            # Only the hub's 403 ("Permission failure") is a bad token; other 500s are real server errors.
            if "Permission failure" not in (exc.reason or ""):
                raise
            raise web.HTTPUnauthorized(
                headers={"WWW-Authenticate": "jupyterhub"}, reason="Invalid or expired JupyterHub token"
            ) from None


class ClusterCapMixin(LocalBackend):  # type: ignore[misc]
    max_clusters_per_user = Integer(
        0, help="Most active clusters one user may have at once (0: no limit).", config=True
    )

    async def start_cluster(self, user: Any, cluster_options: dict[str, Any]) -> str:
        if self.max_clusters_per_user:
            active = self.db.list_clusters(username=user.name)
            if len(active) >= self.max_clusters_per_user:
                # PublicException becomes an HTTP 422 whose reason the client shows.
                raise PublicException(
                    f"user {user.name!r} already has {len(active)} active cluster(s), the limit is "
                    f"{self.max_clusters_per_user}; shut one down first (gateway.list_clusters())"
                )
        name: str = await super().start_cluster(user, cluster_options)
        return name


class WarmProcessesMixin(LocalBackend):  # type: ignore[misc]
    """Schedulers and workers forked from a process that has imported dask, distributed and dask-gateway once."""

    warm_processes = Bool(
        True,
        help="Fork schedulers and workers from a warm process of warm_python (no interpreter start-up and imports "
        "per process); a start it cannot serve is made the usual way.",
        config=True,
    )
    warm_python = Unicode(
        "",
        help="Python of the environment the scheduler and worker commands belong to (empty: every process starts "
        "cold). Commands of another environment always start cold.",
        config=True,
    )
    warm_preload = List(
        Unicode(), default_value=list(DEFAULT_PRELOAD), help="Modules the warm process imports once.", config=True
    )
    warm_socket = Unicode(
        "", help="Unix socket of the warm process (default: warm.sock in clusters_directory).", config=True
    )
    warm_start_timeout = Float(60.0, help="Seconds the warm process may take to import its modules.", config=True)

    _warm_server: subprocess.Popen[bytes] | None = None
    _warm_wait: asyncio.Future[None] | None = None
    _warm_ready = False

    @property
    def warm_socket_path(self) -> str:
        return self.warm_socket or os.path.join(self.clusters_directory, "warm.sock")

    async def do_setup(self) -> None:
        await super().do_setup()
        if self.warm_processes and self.warm_python:
            os.makedirs(self.clusters_directory, mode=0o755, exist_ok=True)
            command = [self.warm_python, "-m", "gaia_lab.platform.warm_processes", "--socket", self.warm_socket_path]
            for module in self.warm_preload:
                command += ["--preload", module]
            # One BLAS thread in the warm process: schedulers and nannies do no linear algebra, and their forks
            # inherit it (a nanny's worker is a new process with its own settings).
            threads = dict.fromkeys(("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"), "1")
            env = {**server_environment(os.environ, keep=[MARKER]), **threads}
            self._warm_server = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL)
            self._warm_wait = asyncio.ensure_future(self._wait_warm_server())

    async def _wait_warm_server(self) -> None:
        deadline = time.monotonic() + self.warm_start_timeout
        server = self._warm_server
        while server is not None and server.poll() is None and time.monotonic() < deadline:
            if await asyncio.get_running_loop().run_in_executor(None, ready, self.warm_socket_path):
                self._warm_ready = True
                self.log.info("Warm processes served from %s (pid %d)", self.warm_socket_path, server.pid)
                return
            await asyncio.sleep(0.2)
        self.log.warning("Warm process did not start: schedulers and workers start cold")

    async def do_cleanup(self) -> None:
        self._warm_ready = False
        if self._warm_wait is not None:
            self._warm_wait.cancel()
        server, self._warm_server = self._warm_server, None
        if server is not None and server.poll() is None:
            server.terminate()
            try:
                await asyncio.get_running_loop().run_in_executor(None, server.wait, 10)
            except subprocess.TimeoutExpired:
                server.kill()
        await super().do_cleanup()

    def warm_identity(self, cluster: Any) -> Identity | None:
        """The account a cluster's processes run as (None: the gateway's own)."""
        return None

    def _warm_serves(self, cmd: list[str]) -> bool:
        return (
            self._warm_ready
            and self._warm_server is not None
            and self._warm_server.poll() is None
            and os.path.dirname(cmd[0]) == os.path.dirname(self.warm_python)
        )

    async def start_process(self, cluster: Any, cmd: list[str], env: dict[str, str], name: str) -> int:
        if not self._warm_serves(cmd):
            pid: int = await super().start_process(cluster, cmd, env, name)
            return pid
        workdir = cluster.state["workdir"]
        log_path = os.path.join(self.get_logs_directory(workdir), name + ".log")
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o755)
        try:
            identity = self.warm_identity(cluster)
            call = lambda: spawn(  # noqa: E731
                self.warm_socket_path, cmd, env, cwd=workdir, log_fd=fd, identity=identity
            )
            warm_pid: int = await asyncio.get_running_loop().run_in_executor(None, call)
            self.log.info("Forked %s of cluster %s from the warm process: pid %d", name, cluster.name, warm_pid)
            return warm_pid
        except WarmProcessError as error:
            self.log.warning("Warm start of %s for cluster %s failed (%s): starting it cold", name, cluster.name, error)
        finally:
            os.close(fd)
        # Upstream's start opens the log with O_EXCL.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(log_path)
        pid = await super().start_process(cluster, cmd, env, name)
        return pid


class LimitedLocalBackend(
    GatewayMetricsMixin,
    UsageRecordingMixin,
    ClusterCapMixin,
    WarmProcessesMixin,
    UnsafeLocalBackend,  # type: ignore[misc]
):
    """Clusters run as the gateway's own account (no root)."""


class SystemUserLocalBackend(
    GatewayMetricsMixin, AccountSettings, UsageRecordingMixin, ClusterCapMixin, WarmProcessesMixin
):
    """Clusters run as the system account of the hub user who asked (needs root)."""

    def account(self, username: str) -> Account:
        return self.accounts.ensure(username)

    def warm_identity(self, cluster: Any) -> Identity:
        return identity_of(self.account(cluster.username).name)

    async def do_start_cluster(self, cluster: Any) -> AsyncIterator[dict[str, Any]]:
        # A user may ask for a cluster (with an API token) before ever starting a server: make the account here too.
        await asyncio.get_running_loop().run_in_executor(None, self.account, cluster.username)
        async for state in super().do_start_cluster(cluster):
            yield state

    def setup_working_directory(self, cluster: Any) -> str:
        # Upstream's version extends its list of paths to chown with the characters of each TLS file's path (so it
        # chowns "/" to the user); this one creates everything as root in the root-owned clusters directory, then
        # hands the working directory, and only it, to the account.
        account = self.account(cluster.username)
        workdir = os.path.join(self.clusters_directory, cluster.name)
        directories = [workdir, self.get_certs_directory(workdir), self.get_logs_directory(workdir)]
        for path in directories:
            os.mkdir(path, 0o700)
        cert_path, key_path = self._get_tls_paths(workdir)
        for path, data in ((cert_path, cluster.tls_cert), (key_path, cluster.tls_key)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                os.fchown(handle.fileno(), account.uid, account.gid)
        for path in directories:
            os.chown(path, account.uid, account.gid, follow_symlinks=False)
        return str(workdir)

    def set_file_permissions(self, paths: list[str], username: str) -> None:
        account = self.account(username)
        for path in paths:
            os.chown(path, account.uid, account.gid, follow_symlinks=False)

    def make_preexec_fn(self, cluster: Any) -> Callable[[], None]:  # pragma: no cover - runs in the child
        # The same account switch as a warm start's (gaia_lab.platform.warm_processes).
        identity = self.warm_identity(cluster)
        workdir = cluster.state["workdir"]

        def preexec() -> None:
            switch_to(identity)
            os.chdir(workdir)

        return preexec

    def get_env(self, cluster: Any) -> dict[str, str]:
        env: dict[str, str] = super().get_env(cluster)
        account = self.account(cluster.username)
        env["USER"] = account.name
        env["HOME"] = str(account.home)
        return env
