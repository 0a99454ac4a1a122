"""dask-gateway-server classes the platform plugs in (imported by the gateway process, named in its config).

- :class:`HubAuthenticator`: the stock JupyterHubAuthenticator answers HTTP 500 when the hub rejects a token
  (the hub says 403); a rejected token is the client's fault, so answer 401.
- :class:`SystemUserLocalBackend` (the platform started as root): dask-gateway's ``LocalBackend``, schedulers and
  workers running as the hub user's own system account, their TLS material readable by that account only.
- :class:`LimitedLocalBackend` (started as a normal user): ``UnsafeLocalBackend``, every cluster running as the
  platform's account.

Both cap the running clusters per user, which dask-gateway does not offer, record clusters and workers in the
usage database (:mod:`gaia_lab.platform.usage_gateway`), and serve ``/api/metrics`` with ``gaia-lab up --metrics``
(:mod:`gaia_lab.platform.gateway_metrics`).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web
from dask_gateway_server.auth import JupyterHubAuthenticator
from dask_gateway_server.backends.base import PublicException
from dask_gateway_server.backends.local import LocalBackend, UnsafeLocalBackend
from traitlets import Integer

from gaia_lab.platform.account_traits import AccountSettings
from gaia_lab.platform.accounts import Account
from gaia_lab.platform.gateway_metrics import GatewayMetricsMixin
from gaia_lab.platform.usage_gateway import UsageRecordingMixin


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


class LimitedLocalBackend(GatewayMetricsMixin, UsageRecordingMixin, ClusterCapMixin, UnsafeLocalBackend):  # type: ignore[misc]
    """Clusters run as the gateway's own account (no root)."""


class SystemUserLocalBackend(GatewayMetricsMixin, AccountSettings, UsageRecordingMixin, ClusterCapMixin):
    """Clusters run as the system account of the hub user who asked (needs root)."""

    def account(self, username: str) -> Account:
        return self.accounts.ensure(username)

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
        account = self.account(cluster.username)
        groups = os.getgrouplist(account.name, account.gid)
        workdir = cluster.state["workdir"]

        def preexec() -> None:
            os.setgid(account.gid)
            os.setgroups(groups)
            os.setuid(account.uid)
            os.chdir(workdir)

        return preexec

    def get_env(self, cluster: Any) -> dict[str, str]:
        env: dict[str, str] = super().get_env(cluster)
        account = self.account(cluster.username)
        env["USER"] = account.name
        env["HOME"] = str(account.home)
        return env
