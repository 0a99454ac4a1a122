"""dask-gateway-server classes the platform plugs in (imported by the gateway process, named in its config).

- :class:`HubAuthenticator`: the stock JupyterHubAuthenticator answers HTTP 500 when the hub rejects a token
  (the hub says 403); a rejected token is the client's fault, so answer 401.
- :class:`LimitedLocalBackend`: the local backend with a per-user cap on running clusters, which dask-gateway
  does not offer.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from dask_gateway_server.auth import JupyterHubAuthenticator
from dask_gateway_server.backends.base import PublicException
from dask_gateway_server.backends.local import UnsafeLocalBackend
from traitlets import Integer


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


class LimitedLocalBackend(UnsafeLocalBackend):  # type: ignore[misc]
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
