"""The openEO API on the platform: openeo-driver's server (gaia_lab/openeo_api/server.py) in its own venv,
answering on ``openeo_port`` at ``/openeo/1.2``. It needs no hub service of its own: users authenticate with their
hub token (openEO basic auth), which it checks with the hub and passes on to OGC API - Processes, where each graph
runs as an ``openeo-graph`` job on the user's Dask cluster. Its collections and process specs are written here (it
cannot import gaia_lab)."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

from gaia_lab.platform.config import PlatformConfig
from gaia_lab.platform.layout import Layout, Ports
from gaia_lab.platform.processes import MARKER, Component, http_ok

API_VERSION_PATH = "/openeo/1.2"
REPOSITORY = Path(__file__).resolve().parents[2]


def api_python() -> Path:
    """The openEO API venv's Python (scripts/install-openeo-api.sh), next to the gaia_lab checkout."""
    override = os.environ.get("GAIA_LAB_OPENEO_API_PYTHON")
    return Path(override) if override else REPOSITORY / ".venv-openeo-api" / "bin" / "python"


def missing() -> str | None:
    """Why the openEO API cannot be served here, or None."""
    if not api_python().exists():
        return f"{api_python()} is missing (scripts/install-openeo-api.sh)"
    if importlib.util.find_spec("openeo_pg_parser_networkx") is None:
        return "the openEO graph runtime is not installed (scripts/install-openeo-runtime.sh)"
    return None


def url(ip: str, ports: Ports) -> str:
    return f"http://{ip}:{ports.openeo_port}{API_VERSION_PATH}"


def prepare(config: PlatformConfig, layout: Layout, ports: Ports, processes_url: str, python: str) -> Component:
    """The component; ``python`` (the platform's) writes the server's files from the federation, then execs it."""
    directory = layout.data_dir / "openeo"
    directory.mkdir(parents=True, exist_ok=True)
    settings = {
        "host": config.ip,
        "port": ports.openeo_port,
        "hub_api_url": f"http://{config.ip}:{ports.hub_port}/hub/api",
        "processes_url": processes_url.rstrip("/"),
    }
    settings_file = directory / "settings.json"
    settings_file.write_text(json.dumps(settings, indent=2))
    launch = [python, "-m", "gaia_lab.openeo_api.launch", "--catalog", str(layout.catalog_file)]
    return Component(
        name="openeo",
        argv=[*launch, "--settings", str(settings_file), "--python", str(api_python())],
        env={**os.environ, MARKER: str(layout.data_dir)},
        cwd=directory,
        log=layout.logs_dir / "openeo.log",
        health=lambda: http_ok(f"{url(config.ip, ports)}/"),
        start_timeout=120.0,
    )
