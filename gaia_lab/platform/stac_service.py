"""The federation's STAC API on the platform: the server of :mod:`gaia_lab.stac_api.server` as a component, a hub
service (``gaia-lab-stac``, reached as /services/gaia-lab-stac/ through the hub's proxy), its token and cookie secret
(kept 0600 in ``<data dir>/stac/secrets.json``), its settings file.

It serves the sessions' own federation (the platform's catalogue file) and the lake server's files under
``/services/gaia-lab-stac/assets/lake/``, so that asset hrefs work for whoever may call the API, with the same login.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from gaia_lab.platform import hub_services, spec
from gaia_lab.platform.config import PlatformConfig
from gaia_lab.platform.layout import Layout, Ports
from gaia_lab.platform.processes import Component, http_ok

SERVICE = spec.STAC_SERVICE
PREFIX = f"/services/{SERVICE}/"
ENV_TOKEN = "GAIA_LAB_STAC_HUB_TOKEN"  # the hub reads the service's token from this variable
ENV_COOKIE_SECRET = "GAIA_LAB_STAC_COOKIE_SECRET"
SESSION_URL = "GAIA_LAB_STAC_URL"  # where sessions reach the API (gaia_lab.catalog.starred)


def state_dir(layout: Layout) -> Path:
    return layout.data_dir / "stac"


def service_secrets(layout: Layout) -> dict[str, str]:
    """The service's hub token and cookie secret, generated once."""
    return hub_services.service_secrets(state_dir(layout))


def service_url(ip: str, ports: Ports) -> str:
    return f"http://{ip}:{ports.stac_port}"


def public_url(ip: str, ports: Ports) -> str:
    """The API's root through the hub's proxy (trailing slash included)."""
    return f"http://{ip}:{ports.port}{PREFIX}"


def hub_service(ip: str, ports: Ports) -> dict[str, object]:
    """The hub's ``services`` entry (its token is added from ENV_TOKEN by the generated hub config)."""
    return hub_services.hub_service_entry(SERVICE, service_url(ip, ports))


def settings(config: PlatformConfig, layout: Layout, ports: Ports) -> dict[str, object]:
    ip = config.ip
    return {
        "host": ip,
        "port": ports.stac_port,
        "prefix": PREFIX,
        "hub_api_url": f"http://{ip}:{ports.hub_port}/hub/api",
        "state_dir": str(state_dir(layout)),
        "catalog_source": str(layout.catalog_file),
        "asset_proxies": {"lake": f"http://{ip}:{ports.lake_port}/"},
    }


def prepare(config: PlatformConfig, layout: Layout, ports: Ports, python: str) -> tuple[Component, dict[str, str]]:
    """The component, and what the hub's environment gains (the service's token)."""
    from gaia_lab.platform.components import base_env  # components imports hub_config, which imports this module

    directory = state_dir(layout)
    secrets, settings_file = hub_services.prepare_state(directory, settings(config, layout, ports))
    ip = config.ip
    component = Component(
        name="stac",
        argv=[python, "-m", "gaia_lab.stac_api.server", "--settings", str(settings_file)],
        env={
            **base_env(layout, python),
            **hub_services.service_env(SERVICE, secrets, ENV_COOKIE_SECRET, ip, ports),
        },
        cwd=directory,
        log=layout.logs_dir / "stac.log",
        health=lambda: http_ok(f"{service_url(ip, ports)}/_health"),
        start_timeout=60.0,
    )
    return component, {ENV_TOKEN: secrets["hub_token"]}


def enabled(config: PlatformConfig) -> bool:
    """Whether `gaia-lab up` serves the federation's STAC API: switched on, and stac-fastapi installed."""
    return bool(config.stac) and importlib.util.find_spec("stac_fastapi.api") is not None
