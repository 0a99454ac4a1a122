"""`gaia-lab up --metrics`: Prometheus and the GAIA Lab exporter as platform components, and what the hub, the gateway
and sessions need for them.

Authenticated everywhere (a shared machine's users reach 127.0.0.1 too):

- JupyterHub's ``/hub/metrics`` (``authenticate_prometheus`` on) answers a hub service, ``gaia-lab-prometheus``,
  whose token has the ``read:metrics`` scope only;
- the gateway's ``/api/metrics`` and the exporter's ``/metrics`` answer one bearer token (the scrape token);
- the exporter lists users and servers as the hub service ``gaia-lab-metrics`` (read-only scopes);
- Prometheus's own web UI and HTTP API ask for a password (``--web.config.file``, bcrypt), user ``gaia-lab``.

Those tokens and the password live in ``<data dir>/metrics/secrets.json`` (0600), apart from the platform's own
secrets so that turning metrics on or off leaves those alone; Prometheus reads its tokens from 0600 files.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import secrets as _random
import shutil
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from gaia_lab.errors import PlatformError
from gaia_lab.platform.components import base_env
from gaia_lab.platform.config import PlatformConfig
from gaia_lab.platform.layout import Layout, Ports
from gaia_lab.platform.processes import Component, http_ok
from gaia_lab.platform.secrets import write_private

PROMETHEUS_SERVICE = "gaia-lab-prometheus"
EXPORTER_SERVICE = "gaia-lab-metrics"
PROMETHEUS_USER = "gaia-lab"
ENV_PROMETHEUS_HUB_TOKEN = "GAIA_LAB_PROMETHEUS_HUB_TOKEN"
ENV_EXPORTER_HUB_TOKEN = "GAIA_LAB_METRICS_HUB_TOKEN"
ENV_SCRAPE_TOKEN = "GAIA_LAB_METRICS_TOKEN"
ENV_SESSION_URL = "GAIA_LAB_METRICS_URL"  # gaia_lab.metrics.ENV_URL
INSTALL_HINT = "install Debian's prometheus package (scripts/setup.d/50-metrics.sh), or set prometheus_command"


@dataclass(frozen=True)
class MetricsSecrets:
    prometheus_hub_token: str  # Prometheus -> JupyterHub /hub/metrics (read:metrics)
    exporter_hub_token: str  # the exporter -> the hub's REST API (read-only)
    scrape_token: str  # Prometheus -> the exporter and the gateway's /api/metrics
    prometheus_password: str  # anyone -> Prometheus's UI and API (user gaia-lab)


def metrics_dir(layout: Layout) -> Path:
    return layout.data_dir / "metrics"


def load_or_create_secrets(layout: Layout) -> MetricsSecrets:
    path = metrics_dir(layout) / "secrets.json"
    if path.exists():
        if path.stat().st_mode & 0o077:
            raise PlatformError(f"{path} is readable by other users; run `chmod 600 {path}`", component="prometheus")
        try:
            stored = json.loads(path.read_text())
            return MetricsSecrets(**{f.name: stored[f.name] for f in fields(MetricsSecrets)})
        except (ValueError, KeyError, TypeError) as exc:
            raise PlatformError(
                f"{path} is unreadable ({exc}); delete it to make new ones", component="prometheus"
            ) from None
    created = MetricsSecrets(
        prometheus_hub_token=_random.token_hex(32),
        exporter_hub_token=_random.token_hex(32),
        scrape_token=_random.token_hex(32),
        prometheus_password=_random.token_urlsafe(24),
    )
    metrics_dir(layout).mkdir(mode=0o700, exist_ok=True)
    write_private(path, json.dumps(asdict(created), indent=2))
    return created


def bcrypt_hash(password: str, rounds: int = 10) -> str:
    """A bcrypt hash (what Prometheus's web config takes) from the C library's crypt(3) (libxcrypt on Debian):
    Python's crypt module is deprecated and bcrypt is not a dependency of the platform."""
    name = ctypes.util.find_library("crypt")
    if name is None:
        raise PlatformError("libcrypt not found: cannot hash Prometheus's password", component="prometheus")
    library = ctypes.CDLL(name)
    library.crypt_gensalt.restype = ctypes.c_char_p
    library.crypt_gensalt.argtypes = [ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p, ctypes.c_int]
    library.crypt.restype = ctypes.c_char_p
    library.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    salt = library.crypt_gensalt(b"$2b$", rounds, None, 0)
    hashed = library.crypt(password.encode(), salt) if salt else None
    if not hashed or not hashed.startswith(b"$2b$"):
        raise PlatformError("crypt(3) cannot make bcrypt hashes here", component="prometheus")
    return str(hashed.decode())


def find_prometheus(config: PlatformConfig) -> str:
    command = config.prometheus_command or shutil.which("prometheus") or "/usr/bin/prometheus"
    if not os.access(command, os.X_OK):
        raise PlatformError(f"{command} not found; {INSTALL_HINT}", component="prometheus")
    return command


def exporter_url(ip: str, ports: Ports) -> str:
    return f"http://{ip}:{ports.metrics_port}"


def prometheus_url(ip: str, ports: Ports) -> str:
    return f"http://{ip}:{ports.prometheus_port}"


def session_environment(config: PlatformConfig, ports: Ports) -> dict[str, str]:
    """Where sessions report their searches and reads (with their own JupyterHub token)."""
    return {ENV_SESSION_URL: f"{exporter_url(config.ip, ports)}/api/v1/report"}


def hub_roles() -> list[dict[str, Any]]:
    return [
        {"name": PROMETHEUS_SERVICE, "scopes": ["read:metrics"], "services": [PROMETHEUS_SERVICE]},
        {
            "name": EXPORTER_SERVICE,
            # Who has which servers and groups: nothing to change, no tokens, no auth state.
            "scopes": ["list:users", "read:users", "read:servers"],
            "services": [EXPORTER_SERVICE],
        },
    ]


def hub_config_lines() -> list[str]:
    """Appended to the generated jupyterhub_config.py: the two services, their roles, authenticated /hub/metrics."""
    return [
        "# gaia-lab up --metrics: Prometheus scrapes /hub/metrics with a read:metrics token; the exporter reads users.",
        "c.JupyterHub.authenticate_prometheus = True",
        "c.JupyterHub.services += [",
        f"    {{'name': {PROMETHEUS_SERVICE!r}, 'display': False,",
        f"     'api_token': os.environ[{ENV_PROMETHEUS_HUB_TOKEN!r}]}},",
        f"    {{'name': {EXPORTER_SERVICE!r}, 'display': False, 'api_token': os.environ[{ENV_EXPORTER_HUB_TOKEN!r}]}},",
        "]",
        f"c.JupyterHub.load_roles += {hub_roles()!r}",
        "",
    ]


def hub_env(secrets: MetricsSecrets) -> dict[str, str]:
    return {
        ENV_PROMETHEUS_HUB_TOKEN: secrets.prometheus_hub_token,
        ENV_EXPORTER_HUB_TOKEN: secrets.exporter_hub_token,
    }


def gateway_env(secrets: MetricsSecrets) -> dict[str, str]:
    return {ENV_SCRAPE_TOKEN: secrets.scrape_token}


def scrape_config(config: PlatformConfig, ports: Ports, token_files: dict[str, Path]) -> dict[str, Any]:
    """prometheus.yml: the hub, the gateway and the exporter, each with its bearer token file."""
    ip = config.ip

    def job(name: str, port: int, path: str, token: str) -> dict[str, Any]:
        return {
            "job_name": name,
            "metrics_path": path,
            "authorization": {"type": "Bearer", "credentials_file": str(token_files[token])},
            "static_configs": [{"targets": [f"{ip}:{port}"]}],
        }

    return {
        "global": {"scrape_interval": config.metrics_scrape_interval, "evaluation_interval": "1m"},
        "scrape_configs": [
            job("jupyterhub", ports.hub_port, "/hub/metrics", "hub"),
            job("dask-gateway", ports.gateway_api_port, "/api/metrics", "scrape"),
            job("gaia-lab", ports.metrics_port, "/metrics", "scrape"),
        ],
    }


def prepare(
    config: PlatformConfig,
    layout: Layout,
    ports: Ports,
    python: str,
    secrets: MetricsSecrets,
    probes: dict[str, str],
) -> list[Component]:
    """Prometheus's config, token files and web config written; the exporter and Prometheus to start (in order)."""
    prometheus = find_prometheus(config)
    root = metrics_dir(layout)
    root.mkdir(mode=0o700, exist_ok=True)
    token_files = {"hub": root / "hub.token", "scrape": root / "scrape.token"}
    write_private(token_files["hub"], secrets.prometheus_hub_token)
    write_private(token_files["scrape"], secrets.scrape_token)
    write_private(root / "prometheus.yml", yaml.safe_dump(scrape_config(config, ports, token_files), sort_keys=False))
    web = {"basic_auth_users": {PROMETHEUS_USER: bcrypt_hash(secrets.prometheus_password)}}
    write_private(root / "web.yml", yaml.safe_dump(web))
    ip, logs = config.ip, layout.logs_dir
    exporter = Component(
        name="metrics-exporter",
        argv=[
            python,
            "-m",
            "gaia_lab.platform.metrics_exporter",
            "--host",
            ip,
            "--port",
            str(ports.metrics_port),
            "--gateway-db",
            str(layout.gateway_dir / "gateway.sqlite"),
            *(f"--probe={name}={url}" for name, url in sorted(probes.items())),
        ],
        env={
            **base_env(layout, python),
            ENV_SCRAPE_TOKEN: secrets.scrape_token,
            "JUPYTERHUB_API_TOKEN": secrets.exporter_hub_token,
            "JUPYTERHUB_API_URL": f"http://{ip}:{ports.hub_port}/hub/api",
        },
        cwd=root,
        log=logs / "metrics-exporter.log",
        health=lambda: http_ok(f"{exporter_url(ip, ports)}/_health"),
    )
    server = Component(
        name="prometheus",
        argv=[
            prometheus,
            f"--config.file={root / 'prometheus.yml'}",
            f"--web.config.file={root / 'web.yml'}",
            f"--storage.tsdb.path={root / 'tsdb'}",
            f"--storage.tsdb.retention.time={config.metrics_retention}",
            f"--web.listen-address={ip}:{ports.prometheus_port}",
        ],
        env=base_env(layout, python),
        cwd=root,
        log=logs / "prometheus.log",
        health=lambda: _prometheus_ready(ip, ports, secrets.prometheus_password),
    )
    return [exporter, server]


def _prometheus_ready(ip: str, ports: Ports, password: str) -> bool:
    import base64
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"{prometheus_url(ip, ports)}/-/ready")
    credentials = base64.b64encode(f"{PROMETHEUS_USER}:{password}".encode()).decode()
    request.add_header("Authorization", f"Basic {credentials}")
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False
