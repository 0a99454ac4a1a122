"""The hub login of GAIA Lab's own services behind the hub's proxy (OGC API - Processes, the federation's STAC API):
JupyterHub's ``HubOAuth`` for one service, and the secret its login cookie is signed with."""

from __future__ import annotations

import os
from typing import Any


def service_oauth(service_name: str, prefix: str, hub_api_url: str) -> Any:
    """``HubOAuth`` for the hub service ``service_name`` served under ``prefix`` (no trailing slash): users need the
    service's access scope; token lookups are cached a minute."""
    from jupyterhub.services.auth import HubOAuth

    return HubOAuth(
        api_token=os.environ["JUPYTERHUB_API_TOKEN"],
        api_url=hub_api_url,
        oauth_client_id=f"service-{service_name}",
        oauth_redirect_uri=f"{prefix}/oauth_callback",
        base_url=prefix + "/",
        hub_prefix="/hub/",
        access_scopes={f"access:services!service={service_name}"},
        cache_max_age=60,
    )


def cookie_secret(variable: str) -> bytes:
    """The secret in ``variable`` (the platform keeps it across restarts), else a new one: cookies of this run only."""
    return os.environ.get(variable, "").encode() or os.urandom(32)
