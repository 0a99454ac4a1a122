"""OGC API - Processes on the platform: the pygeoapi server (gaia_lab.ogc_processes.server) as a component, a hub
service (``gaia-lab-processes``, reached as /services/gaia-lab-processes/ through the hub's proxy), its token and
cookie secret (kept 0600 in ``<data dir>/processes/secrets.json``), its settings file.

The service is a hub service with one extra power, the ``tokens`` scope: it issues each requesting user a token
limited to the gateway, so that user's cluster starts as that user (account, options, limits) and reads with that
user's rights.
"""

from __future__ import annotations

from pathlib import Path

from gaia_lab.platform import hub_services, spec
from gaia_lab.platform.config import PlatformConfig, parse_memory
from gaia_lab.platform.layout import Layout, Ports
from gaia_lab.platform.processes import Component, http_ok

SERVICE = "gaia-lab-processes"
PREFIX = f"/services/{SERVICE}/"
ACCESS_SCOPE = f"access:services!service={SERVICE}"
ENV_TOKEN = "GAIA_LAB_PROCESSES_HUB_TOKEN"  # the hub reads the service's token from this variable
ENV_COOKIE_SECRET = "GAIA_LAB_PROCESSES_COOKIE_SECRET"


def state_dir(layout: Layout) -> Path:
    return layout.data_dir / "processes"


def service_secrets(layout: Layout) -> dict[str, str]:
    """The service's hub token and cookie secret, generated once."""
    return hub_services.service_secrets(state_dir(layout))


def service_url(ip: str, ports: Ports) -> str:
    return f"http://{ip}:{ports.processes_port}"


def public_url(ip: str, ports: Ports) -> str:
    return f"http://{ip}:{ports.port}{PREFIX.rstrip('/')}"


def hub_service(ip: str, ports: Ports) -> dict[str, object]:
    """The hub's ``services`` entry (its token is added from ENV_TOKEN by the generated hub config)."""
    return hub_services.hub_service_entry(SERVICE, service_url(ip, ports))


def hub_role() -> dict[str, object]:
    # Issuing each user a gateway-only token of their own (the hub checks that token's scopes against the user's).
    return {"name": SERVICE, "scopes": ["tokens", "read:users:name"], "services": [SERVICE]}


def settings(config: PlatformConfig, layout: Layout, ports: Ports) -> dict[str, object]:
    ip = config.ip
    system = layout.shared_dir is not None
    return {
        "host": ip,
        "port": ports.processes_port,
        "public_url": public_url(ip, ports),
        "prefix": PREFIX,
        "hub_api_url": f"http://{ip}:{ports.hub_port}/hub/api",
        "gateway_address": f"http://{ip}:{ports.port}{spec.GATEWAY_PREFIX}",
        "gateway_proxy_address": f"gateway://{ip}:{ports.gateway_tcp_port}",
        "gateway_scope": spec.GATEWAY_SCOPE,
        "state_dir": str(state_dir(layout)),
        "catalog_source": str(layout.catalog_file),
        "homes_dir": str(layout.homes_dir),
        "account_prefix": config.account_prefix if system else None,
        "workers": int(config.processes_workers),
        "worker_cores": int(config.processes_worker_cores),
        "worker_memory_gib": parse_memory(config.processes_worker_memory) / spec.GIB,
        "idle_timeout": float(config.processes_idle_timeout),
        "max_duration": float(config.processes_max_duration),
        "max_output_bytes": parse_memory(config.processes_max_output_size),
        "max_active_jobs_per_user": int(config.processes_max_jobs),
        "worker_environment": dict(config.processes_worker_environment),
    }


def prepare(config: PlatformConfig, layout: Layout, ports: Ports, python: str) -> tuple[Component, dict[str, str]]:
    """The component, and what the hub's environment gains (the service's token)."""
    from gaia_lab.platform.components import base_env  # components imports hub_config, which imports this module

    directory = state_dir(layout)
    secrets, settings_file = hub_services.prepare_state(directory, settings(config, layout, ports))
    ip = config.ip
    component = Component(
        name="processes",
        argv=[python, "-m", "gaia_lab.ogc_processes.server", "--settings", str(settings_file)],
        env={
            **base_env(layout, python),
            **hub_services.service_env(SERVICE, secrets, ENV_COOKIE_SECRET, ip, ports),
        },
        cwd=directory,
        log=layout.logs_dir / "processes.log",
        health=lambda: http_ok(f"{service_url(ip, ports)}/_health"),
        # Stopping shuts the users' processing clusters down first.
        stop_timeout=60.0,
        start_timeout=120.0,
    )
    return component, {ENV_TOKEN: secrets["hub_token"]}


def enabled(config: PlatformConfig) -> bool:
    """Whether `gaia-lab up` serves OGC API - Processes: switched on, and pygeoapi installed."""
    import importlib.util

    return bool(config.processes) and importlib.util.find_spec("pygeoapi") is not None
