"""The generated jupyterhub_config.py. Secrets stay out of it: the hub reads them from its environment."""

from __future__ import annotations

import inspect
import os
import shutil
from pathlib import Path
from typing import Any

from gaia_lab.platform.config import PlatformConfig
from gaia_lab.platform.layout import Layout, Ports
from gaia_lab.platform.processes import MARKER
from gaia_lab.platform.spawner import READY_POLL_INTERVAL, ReadyWaitingSpawner

GATEWAY_SERVICE = "dask-gateway"
PLATFORM_SERVICE = "gaia-lab-platform"
CULLER_SERVICE = "idle-culler"

# Environment variables the hub process gets from the supervisor (values from secrets.json).
ENV_PROXY_TOKEN = "CONFIGPROXY_AUTH_TOKEN"
ENV_USER_PASSWORD = "GAIA_LAB_USER_PASSWORD"
ENV_ADMIN_PASSWORD = "GAIA_LAB_ADMIN_PASSWORD"
ENV_GATEWAY_TOKEN = "GAIA_LAB_GATEWAY_HUB_TOKEN"
ENV_PLATFORM_TOKEN = "GAIA_LAB_PLATFORM_TOKEN"

SHARED_PASSWORD_NAMES = ("shared-password", "jupyterhub.authenticators.shared.SharedPasswordAuthenticator")


def copy_workshop(source: str, home: str) -> bool:
    """Copy the folder ``source`` to ``<home>/workshop`` read-only (files 0444, folders 0555); False if it exists.

    The course material stays as the trainer wrote it: participants run the notebooks and save their own copies
    elsewhere. A later spawn leaves an existing ``~/workshop`` alone. The copy is made next to the target and
    renamed into place, so an interrupted spawn never leaves half a workshop (its leftover is removed first).
    The generated jupyterhub_config.py holds this function's source, so the hub needs no gaia_lab import.
    """
    target = os.path.join(home, "workshop")
    if os.path.lexists(target):
        return False
    partial = target + ".partial"
    if os.path.lexists(partial):
        os.chmod(partial, 0o755)
        for root, dirs, _files in os.walk(partial):
            for name in dirs:
                os.chmod(os.path.join(root, name), 0o755)
        shutil.rmtree(partial)
    shutil.copytree(source, partial, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    for root, _dirs, files in os.walk(partial, topdown=False):
        for name in files:
            os.chmod(os.path.join(root, name), 0o444)
        if root != partial:
            os.chmod(root, 0o555)
    os.rename(partial, target)
    os.chmod(target, 0o555)
    return True


def session_environment(config: PlatformConfig, layout: Layout, ports: Ports, python: str) -> dict[str, str]:
    """What every user session (server and kernels) gets, so gl.open_catalog() and gl.cluster() work unchanged."""
    bin_dir = str(Path(python).parent)
    return {
        "GAIA_LAB_CATALOG": str(layout.catalog_file),
        "GAIA_LAB_LAKE_URL": f"http://{config.ip}:{ports.lake_port}/",
        "DASK_GATEWAY__ADDRESS": f"http://{config.ip}:{ports.port}/services/{GATEWAY_SERVICE}",
        "DASK_GATEWAY__PROXY_ADDRESS": f"gateway://{config.ip}:{ports.gateway_tcp_port}",
        "DASK_GATEWAY__AUTH__TYPE": "jupyterhub",
        # dask-labextension's "New cluster" button then asks the gateway too.
        "DASK_LABEXTENSION__FACTORY__MODULE": "dask_gateway",
        "DASK_LABEXTENSION__FACTORY__CLASS": "GatewayCluster",
        MARKER: str(layout.data_dir),
        "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")]),
    }


def render(config: PlatformConfig, layout: Layout, ports: Ports, python: str) -> str:
    bin_dir = Path(python).parent
    settings: list[tuple[str, Any]] = [
        ("JupyterHub.bind_url", f"http://{config.ip}:{ports.port}"),
        ("JupyterHub.hub_bind_url", f"http://{config.ip}:{ports.hub_port}"),
        ("JupyterHub.db_url", f"sqlite:///{layout.hub_dir / 'jupyterhub.sqlite'}"),
        # The supervisor owns the proxy and user servers outlive a hub restart: the hub must not stop them.
        ("JupyterHub.cleanup_servers", False),
        ("JupyterHub.cleanup_proxy", False),
        ("ConfigurableHTTPProxy.should_start", False),
        ("ConfigurableHTTPProxy.api_url", f"http://{config.ip}:{ports.proxy_api_port}"),
        ("JupyterHub.authenticator_class", config.authenticator_class),
        ("Authenticator.admin_users", set(config.admin_users)),
        ("SimpleLocalProcessSpawner.home_dir_template", str(layout.homes_dir / "{username}")),
        ("Spawner.cmd", [str(bin_dir / "jupyterhub-singleuser")]),
        ("Spawner.args", _server_args()),
        ("Spawner.ip", config.ip),
        ("Spawner.default_url", config.default_url),
        ("Spawner.start_timeout", config.spawn_timeout),
        ("Spawner.http_timeout", config.spawn_timeout),
        ("Spawner.environment", session_environment(config, layout, ports, python)),
        ("JupyterHub.active_server_limit", config.active_server_limit),
        ("JupyterHub.load_roles", _roles()),
    ]
    if config.allowed_users:
        settings.append(("Authenticator.allowed_users", set(config.allowed_users)))
    else:
        settings.append(("Authenticator.allow_all", True))
    for key, value in sorted(config.authenticator_config.items()):
        settings.append((f"Authenticator.{key}", value))

    lines = [
        "# Generated by `gaia-lab up` at every start; edit the platform config instead.",
        "import asyncio",
        "import os",
        "",
        "from jupyterhub.spawner import SimpleLocalProcessSpawner",
        "from tornado.httpclient import AsyncHTTPClient, HTTPClientError",
        "",
        "c = get_config()  # noqa: F821",
        "",
        f"READY_POLL_INTERVAL = {READY_POLL_INTERVAL!r}",
        "",
        "",
        *inspect.getsource(ReadyWaitingSpawner).splitlines(),
        "",
        "",
        f"c.JupyterHub.spawner_class = {ReadyWaitingSpawner.__name__}",
    ]
    lines += [f"c.{key} = {value!r}" for key, value in settings]
    lines.append(f"c.ConfigurableHTTPProxy.auth_token = os.environ[{ENV_PROXY_TOKEN!r}]")
    if config.authenticator_class in SHARED_PASSWORD_NAMES:
        lines.append(f"c.SharedPasswordAuthenticator.user_password = os.environ[{ENV_USER_PASSWORD!r}]")
        lines.append(f"c.SharedPasswordAuthenticator.admin_password = os.environ[{ENV_ADMIN_PASSWORD!r}]")
    culler = [
        str(python),
        "-m",
        "jupyterhub_idle_culler",
        f"--timeout={config.server_idle_timeout}",
        f"--cull-every={config.cull_every}",
    ]
    lines += [
        "c.JupyterHub.services = [",
        f"    {{'name': {GATEWAY_SERVICE!r}, 'url': {f'http://{config.ip}:{ports.gateway_port}'!r},",
        f"     'api_token': os.environ[{ENV_GATEWAY_TOKEN!r}], 'display': False, 'oauth_no_confirm': True}},",
        f"    {{'name': {PLATFORM_SERVICE!r}, 'api_token': os.environ[{ENV_PLATFORM_TOKEN!r}], 'display': False}},",
        f"    {{'name': {CULLER_SERVICE!r}, 'command': {culler!r}, 'display': False}},",
        "]",
        "",
    ]
    workshop = repr(config.workshop_dir) if config.workshop_dir else "None"
    lines += [
        "import json",
        "import shutil",
        "",
        "",
        *inspect.getsource(copy_workshop).splitlines(),
        "",
        "",
        "def _prepare_home(spawner):",
        "    home = spawner.home_dir",
        "    # JupyterLab asks every new user whether to fetch Jupyter's news feed (an internet call); answer no.",
        "    settings = os.path.join(home, '.jupyter', 'lab', 'user-settings', '@jupyterlab', 'apputils-extension')",
        "    notification = os.path.join(settings, 'notification.jupyterlab-settings')",
        "    if not os.path.exists(notification):",
        "        os.makedirs(settings, exist_ok=True)",
        "        with open(notification, 'w') as handle:",
        "            json.dump({'fetchNews': 'false'}, handle)",
        f"    workshop = {workshop}",
        "    if workshop:",
        "        copy_workshop(workshop, home)  # read-only, once",
        "",
        "",
        "c.Spawner.pre_spawn_hook = _prepare_home",
        "",
    ]
    return "\n".join(lines)


# Server extensions installed as dependencies but of no use in a session, each costing its import at every spawn
# (measured: 1.2-1.5 s of a 4.6 s server start): panel's serves `panel serve`-style previews (notebooks render
# panel/hvplot output through the kernel and the lab extension, not through it), jupyter_lsp needs language servers
# that are not installed. images/base/jupyter_server_config.json disables the same ones in the notebook image.
UNUSED_SERVER_EXTENSIONS = ("jupyter_lsp", "panel.io.jupyter_server_extension")


def _server_args() -> list[str]:
    # JupyterLab's update check and news feed call out to the internet; a platform may well have none.
    args = ["--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--LabApp.news_url=None"]
    disabled = {name: False for name in UNUSED_SERVER_EXTENSIONS}
    args.append(f"--ServerApp.jpserver_extensions={disabled!r}")
    if os.geteuid() == 0:
        args.append("--allow-root")  # root (containers, CI) runs the local spawner's servers as itself
    return args


def _roles() -> list[dict[str, Any]]:
    gateway_access = f"access:services!service={GATEWAY_SERVICE}"
    return [
        # The gateway checks this scope on the token it is given; a notebook uses the *server's* token, so both
        # the user role (browser, API tokens) and the server role need it.
        {"name": "user", "scopes": ["self", gateway_access]},
        {"name": "server", "scopes": ["users:activity!user", "access:servers!server", gateway_access]},
        {
            "name": CULLER_SERVICE,
            "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
            "services": [CULLER_SERVICE],
        },
        {
            "name": PLATFORM_SERVICE,
            "scopes": ["admin:users", "admin:servers", "tokens", "list:users", "read:hub"],
            "services": [PLATFORM_SERVICE],
        },
    ]
