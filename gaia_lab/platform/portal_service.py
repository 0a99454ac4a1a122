"""The discovery portal on the platform: the server of :mod:`gaia_lab.portal.server` as a component, a hub service
(``gaia-lab-portal``, reached as /services/gaia-lab-portal/ through the hub's proxy, listed in the hub's Services
menu), its token and cookie secret (kept 0600 in ``<data dir>/portal/secrets.json``), its settings file, and the
JupyterLab launcher's "GAIA Lab" section (jupyter-server-proxy entries of every session).

The pages call a STAC API from the browser: ``portal_stac_api_url``, by default the platform's federation API on the
hub's own origin. The service itself needs one power beyond its users' logins: starting a user's server and writing
into it (``servers``, ``access:servers``), which "Open in JupyterLab" does for the logged-in user only.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

from gaia_lab.platform import hub_services, spec
from gaia_lab.platform.config import PlatformConfig
from gaia_lab.platform.layout import Layout, Ports
from gaia_lab.platform.processes import Component, http_ok

SERVICE = spec.PORTAL_SERVICE
PREFIX = f"/services/{SERVICE}/"
ACCESS_SCOPE = spec.PORTAL_SCOPE  # in the users' role (spec.ROLES): the hub's OAuth lets in only users holding it
ENV_TOKEN = "GAIA_LAB_PORTAL_HUB_TOKEN"  # the hub reads the service's token from this variable
ENV_COOKIE_SECRET = "GAIA_LAB_PORTAL_COOKIE_SECRET"
# The federation's STAC API service (gaia_lab.platform.stac_service): the pages' API unless the config names another.
STAC_SERVICE_PREFIX = "/services/gaia-lab-stac/"
REPOSITORY = Path(__file__).resolve().parents[2]
MAPLIBRE = Path("node_modules") / "maplibre-gl" / "dist"


def workshop_dir(config: PlatformConfig) -> str:
    """The folder copied into every new home: the configured workshop, else the tutorials (``tutorials = True``)
    when this is a checkout that has them; "" for none."""
    if config.workshop_dir:
        return str(config.workshop_dir)
    tutorials = REPOSITORY / "notebooks"
    return str(tutorials) if config.tutorials and any(tutorials.glob("*.ipynb")) else ""


def state_dir(layout: Layout) -> Path:
    return layout.data_dir / "portal"


def maplibre_dir(layout: Layout | None = None) -> Path | None:
    """MapLibre GL JS's built files, installed by npm (scripts/setup.d/30-platform.sh): the checkout's
    node_modules, the data dir's, or the current directory's."""
    roots = [REPOSITORY, *([layout.data_dir / "node"] if layout else []), Path.cwd()]
    for root in roots:
        candidate = root / MAPLIBRE
        if (candidate / "maplibre-gl.js").is_file() and (candidate / "maplibre-gl.css").is_file():
            return candidate
    return None


def missing() -> str | None:
    """Why the portal cannot be served here, or None."""
    if maplibre_dir() is None:
        return "MapLibre GL JS is not installed (npm ci in the checkout: scripts/setup.d/30-platform.sh)"
    for module in ("tornado", "pyogrio", "matplotlib", "markdown"):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed (pip install 'gaia-lab[portal]')"
    from gaia_lab.portal.basemap import BasemapError, source

    try:
        source()
    except BasemapError as error:
        return f"{error} (pip install 'gaia-lab[portal]')"
    return None


def enabled(config: PlatformConfig) -> bool:
    return bool(config.portal) and missing() is None


def service_secrets(layout: Layout) -> dict[str, str]:
    """The service's hub token and cookie secret, generated once."""
    return hub_services.service_secrets(state_dir(layout))


def service_url(ip: str, ports: Ports) -> str:
    return f"http://{ip}:{ports.portal_port}"


def public_url(ip: str, ports: Ports) -> str:
    """The portal's page through the hub's proxy (trailing slash included)."""
    return f"http://{ip}:{ports.port}{PREFIX}"


def stac_api_url(config: PlatformConfig) -> str:
    return config.portal_stac_api_url or STAC_SERVICE_PREFIX


def hub_service(ip: str, ports: Ports) -> dict[str, object]:
    """The hub's ``services`` entry (its token is added from ENV_TOKEN by the generated hub config)."""
    return hub_services.hub_service_entry(SERVICE, service_url(ip, ports))


def hub_role() -> dict[str, object]:
    # Start a user's server and write the notebook into it, for the user logged into the portal only.
    return {
        "name": SERVICE,
        "scopes": ["servers", "read:servers", "access:servers", "read:users:name"],
        "services": [SERVICE],
    }


def settings(config: PlatformConfig, layout: Layout, ports: Ports) -> dict[str, object]:
    ip = config.ip
    return {
        "host": ip,
        "port": ports.portal_port,
        "prefix": PREFIX,
        "hub_url": f"http://{ip}:{ports.port}/",
        "hub_api_url": f"http://{ip}:{ports.hub_port}/hub/api",
        "stac_api_url": stac_api_url(config),
        "state_dir": str(state_dir(layout)),
        "catalog_source": str(layout.catalog_file),
        "maplibre_dir": str(maplibre_dir(layout)),
        "docs_dir": str(REPOSITORY / "docs"),
        "spawn_timeout": float(config.spawn_timeout),
    }


def prepare(config: PlatformConfig, layout: Layout, ports: Ports, python: str) -> tuple[Component, dict[str, str]]:
    """The component, and what the hub's environment gains (the service's token)."""
    from gaia_lab.platform.components import base_env  # components imports hub_config, which imports this module

    directory = state_dir(layout)
    secrets, settings_file = hub_services.prepare_state(directory, settings(config, layout, ports))
    ip = config.ip
    component = Component(
        name="portal",
        argv=[python, "-m", "gaia_lab.portal.server", "--settings", str(settings_file)],
        env={
            **base_env(layout, python),
            **hub_services.service_env(SERVICE, secrets, ENV_COOKIE_SECRET, ip, ports),
            "JUPYTERHUB_SERVICE_PREFIX": PREFIX,
            "JUPYTERHUB_CLIENT_ID": f"service-{SERVICE}",
            "JUPYTERHUB_OAUTH_CALLBACK_URL": f"{PREFIX}oauth_callback",
            "JUPYTERHUB_OAUTH_ACCESS_SCOPES": json.dumps([ACCESS_SCOPE]),
            "JUPYTERHUB_BASE_URL": "/",
        },
        cwd=directory,
        log=layout.logs_dir / "portal.log",
        health=lambda: http_ok(f"{service_url(ip, ports)}{PREFIX}_health"),
        start_timeout=60.0,
    )
    return component, {ENV_TOKEN: secrets["hub_token"]}


LAUNCHER_ENTRIES = (
    # (name, title, where the card leads: a path on the hub's origin; {base_url} is the user's server's own path,
    # filled in by jupyter-server-proxy)
    ("gaia-lab-portal", "Portal", PREFIX),
    ("gaia-lab-tutorials", "Tutorials", "{base_url}lab/tree/my-workshop"),
    ("gaia-lab-docs", "Docs", f"{PREFIX}docs/"),
)
ICON = REPOSITORY / "gaia_lab" / "portal" / "static" / "gaia.svg"
# A redirect server jupyter-server-proxy starts on the card's first use: the card opens the session's proxied path,
# which sends the browser on to the portal (a page of the hub's origin) or into JupyterLab. jupyter-server-proxy
# formats every argument of the command, so the code holds no braces.
REDIRECT_CODE = (
    "import http.server, sys\n"
    "port, target = int(sys.argv[1]), sys.argv[2]\n"
    "class Redirect(http.server.BaseHTTPRequestHandler):\n"
    "    def do_GET(self):\n"
    "        self.send_response(302)\n"
    "        self.send_header('Location', target)\n"
    "        self.end_headers()\n"
    "    def log_message(self, *args):\n"
    "        pass\n"
    "http.server.ThreadingHTTPServer(('127.0.0.1', port), Redirect).serve_forever()\n"
)


def launcher_servers(session_python: str) -> dict[str, Any]:
    """jupyter-server-proxy's ``ServerProxy.servers``: the JupyterLab launcher's "GAIA Lab" section."""
    servers: dict[str, Any] = {}
    for name, title, target in LAUNCHER_ENTRIES:
        servers[name] = {
            "command": [session_python or sys.executable, "-c", REDIRECT_CODE, "{port}", target],
            "timeout": 30,
            # The redirect's Location is a path of the hub's origin, to pass on as it is (jupyter-server-proxy
            # rewrites a relative server's Location under its own prefix).
            "absolute_url": True,
            "new_browser_tab": True,
            "launcher_entry": {
                "enabled": True,
                "title": title,
                "category": "GAIA Lab",
                **({"icon_path": str(ICON)} if ICON.is_file() else {}),
            },
        }
    return servers
