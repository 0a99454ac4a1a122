"""The four processes of the platform: their command lines, environments, logs and health checks.

Secrets travel in environment variables, never on command lines (any account may read /proc/*/cmdline).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from gaia_lab.errors import PlatformError
from gaia_lab.platform import hub_config, spec
from gaia_lab.platform.config import PlatformConfig
from gaia_lab.platform.layout import Layout, Ports
from gaia_lab.platform.processes import MARKER, Component, http_ok
from gaia_lab.platform.secrets import Secrets
from gaia_lab.platform.warm_processes import ready, server_environment

PROXY_INSTALL_HINT = (
    "install it with `npm install -g configurable-http-proxy` (Node.js >= 18), or "
    "`npm install --prefix <data dir>/node configurable-http-proxy`, or set proxy_command in the platform config"
)
WARM_SESSIONS = "warm-sessions"
# Components whose end does not end the platform: what they speed up is then done the usual way.
OPTIONAL = frozenset({WARM_SESSIONS})
# With --slurm, the platform's own Slurm and the HPC gateway start after the gateway: stopped before them (reverse
# order), the HPC gateway cancels its clusters' jobs while Slurm still runs.
ORDER = (
    "lake",
    "opendap",
    "csw",
    "records",
    "s3",
    "configurable-http-proxy",
    "dask-gateway",
    "munged",
    "slurmctld",
    "slurmd",
    "dask-gateway-hpc",
    "processes",
    "openeo",
    "stac",
    "portal",
    WARM_SESSIONS,
    "jupyterhub",
    "metrics-exporter",
    "prometheus",
)


# What a JupyterLab server of the hub imports before it answers (jupyterhub-singleuser, jupyter_server, JupyterLab
# and the server extensions the sessions enable): imported once by the warm process the spawner forks servers from.
SESSION_PRELOAD = (
    "jupyterhub.singleuser",
    "jupyterhub.singleuser.extension",
    "jupyter_server.serverapp",
    "jupyterlab",
    "jupyterlab.labapp",
    "notebook",
    "notebook.app",
    "notebook_shim",
    "notebook_shim.shim",
    "jupyter_server_proxy",
    "jupyter_server_terminals",
    # dask_labextension starts its cluster manager (and an event loop) at import: only what it imports.
    "dask.distributed",
    "jupyter_server.services.contents.largefilemanager",
    "jupyter_server.services.kernels.kernelmanager",
    "jupyter_server.services.sessions.sessionmanager",
)


def find_proxy(config: PlatformConfig, layout: Layout) -> list[str]:
    if config.proxy_command:
        command = list(config.proxy_command)
        if shutil.which(command[0]) is None:
            raise PlatformError(
                f"proxy_command {command[0]!r} not found; {PROXY_INSTALL_HINT}", component="configurable-http-proxy"
            )
        return command
    candidates = [
        shutil.which("configurable-http-proxy"),
        layout.data_dir / "node" / "node_modules" / ".bin" / "configurable-http-proxy",
        layout.data_dir / "node" / "bin" / "configurable-http-proxy",
        Path.cwd() / "node_modules" / ".bin" / "configurable-http-proxy",
    ]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return [str(candidate)]
    raise PlatformError(
        f"configurable-http-proxy not found on PATH; {PROXY_INSTALL_HINT}", component="configurable-http-proxy"
    )


def proxy_options(proxy: list[str]) -> list[str]:
    """Options for this proxy beyond the stock ones: a keep-alive longer than the clients' own.

    The npm proxy closes an idle kept-alive connection after 5 s, aiohttp's clients (dask-gateway's) keep theirs
    for 15 s: a client reusing one just as the proxy closes it gets "Server disconnected" or "Connection reset".
    Rare on an idle machine, seen under a class starting clusters at once (2 of 30 in one run here).
    """
    try:
        help_text = subprocess.run([*proxy, "--help"], capture_output=True, text=True, timeout=60, check=False).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return ["--keep-alive-timeout", "60000"] if "--keep-alive-timeout" in help_text else []


def base_env(layout: Layout, python: str) -> dict[str, str]:
    env = dict(os.environ)
    env[MARKER] = str(layout.data_dir)
    env["PATH"] = os.pathsep.join([str(Path(python).parent), env.get("PATH", "/usr/local/bin:/usr/bin:/bin")])
    return env


def build(
    config: PlatformConfig, layout: Layout, ports: Ports, secrets: Secrets, proxy: list[str], python: str
) -> list[Component]:
    """The components in start order; ``python`` runs the platform's own processes (hub, gateway, lake)."""
    ip = config.ip
    logs = layout.logs_dir
    base = base_env(layout, python)

    lake = Component(
        name="lake",
        argv=[
            python,
            "-m",
            "gaia_lab.platform.lake_server",
            "--root",
            str(layout.lake_dir),
            "--host",
            ip,
            "--port",
            str(ports.lake_port),
        ],
        env=base,
        cwd=layout.data_dir,
        log=logs / "lake.log",
        health=lambda: http_ok(f"http://{ip}:{ports.lake_port}/_health"),
    )
    chp = Component(
        name="configurable-http-proxy",
        argv=[
            *proxy,
            "--ip",
            ip,
            "--port",
            str(ports.port),
            "--api-ip",
            ip,
            "--api-port",
            str(ports.proxy_api_port),
            "--default-target",
            f"http://{ip}:{ports.hub_port}",
            "--error-target",
            f"http://{ip}:{ports.hub_port}/hub/error",
            *proxy_options(proxy),
        ],
        env={**base, hub_config.ENV_PROXY_TOKEN: secrets.proxy_auth_token},
        cwd=layout.data_dir,
        log=logs / "proxy.log",
        health=lambda: http_ok(f"http://{ip}:{ports.proxy_api_port}/api/routes", token=secrets.proxy_auth_token),
    )
    gateway = Component(
        name="dask-gateway",
        argv=[python, "-m", "dask_gateway_server", "-f", str(layout.gateway_config_file)],
        env={
            **base,
            "JUPYTERHUB_API_TOKEN": secrets.gateway_hub_token,
            "JUPYTERHUB_API_URL": f"http://{ip}:{ports.hub_port}/hub/api",
            "JUPYTERHUB_SERVICE_NAME": spec.GATEWAY_SERVICE,
            "DASK_GATEWAY_PROXY_TOKEN": secrets.gateway_proxy_token,
            "DASK_GATEWAY_ENCRYPT_KEYS": secrets.gateway_encrypt_key,
        },
        cwd=layout.gateway_dir,
        log=logs / "gateway.log",
        health=lambda: http_ok(f"http://{ip}:{ports.gateway_port}{spec.GATEWAY_PREFIX}/api/health"),
        # Stopping clusters on shutdown takes the gateway a few seconds per cluster.
        stop_timeout=30.0,
    )
    hub = Component(
        name="jupyterhub",
        argv=[python, "-m", "jupyterhub", "-f", str(layout.hub_config_file)],
        env={
            **base,
            hub_config.ENV_PROXY_TOKEN: secrets.proxy_auth_token,
            hub_config.ENV_USER_PASSWORD: secrets.user_password,
            hub_config.ENV_ADMIN_PASSWORD: secrets.admin_password,
            hub_config.ENV_GATEWAY_TOKEN: secrets.gateway_hub_token,
            hub_config.ENV_PLATFORM_TOKEN: secrets.platform_token,
            "JPY_COOKIE_SECRET": secrets.cookie_secret,
        },
        cwd=layout.hub_dir,
        log=logs / "hub.log",
        # Through the proxy: healthy means the hub answers *and* its routes are in place.
        health=lambda: http_ok(f"http://{ip}:{ports.port}/hub/health"),
        start_timeout=120.0,
    )
    return [lake, chp, gateway, hub]


def warm_sessions(layout: Layout, session_python: str) -> Component:
    """The process the hub's spawner forks JupyterLab servers from, with none of the hub's secrets in its memory."""
    socket_path = str(layout.warm_sessions_socket)
    argv = [session_python, "-m", "gaia_lab.platform.warm_processes", "--socket", socket_path]
    argv += ["--script", "jupyterhub-singleuser"]
    for module in SESSION_PRELOAD:
        argv += ["--preload", module]
    return Component(
        name=WARM_SESSIONS,
        argv=argv,
        env=server_environment(base_env(layout, session_python), keep=[MARKER]),
        cwd=layout.hub_dir,
        log=layout.logs_dir / "warm-sessions.log",
        health=lambda: ready(socket_path),
    )
