"""The lake's NetCDF files over OPeNDAP on the platform: the server (gaia_lab.datalake.opendap) as a component, and
the hubs' OPeNDAP STAC catalogues (``<hub>-opendap``) written at each start beside the sessions' federation, where
every session can read them, their assets on this server's URL."""

from __future__ import annotations

import shutil
from typing import Any

from gaia_lab.datalake.opendap import publish_stac
from gaia_lab.platform.components import base_env
from gaia_lab.platform.layout import Layout, Ports
from gaia_lab.platform.processes import Component, http_ok


def opendap_url(ip: str, ports: Ports) -> str:
    return f"http://{ip}:{ports.opendap_port}"


def prepare(layout: Layout, ip: str, ports: Ports, python: str) -> tuple[list[Component], list[dict[str, Any]]]:
    """The server component and the providers the sessions' federation gains (none when the lake has no NetCDF)."""
    url = opendap_url(ip, ports)
    target = layout.catalog_file.parent / "opendap"
    if target.exists():
        shutil.rmtree(target)  # collections removed from the lake since the last start go too
    providers = publish_stac(layout.lake_dir, url, target)
    if not providers:
        return [], []
    for path in [target, *target.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)  # every session reads them
    server = Component(
        name="opendap",
        argv=[
            python,
            "-m",
            "gaia_lab.datalake.opendap",
            "--root",
            str(layout.lake_dir),
            "--host",
            ip,
            "--port",
            str(ports.opendap_port),
        ],
        env=base_env(layout, python),
        cwd=layout.data_dir,
        log=layout.logs_dir / "opendap.log",
        health=lambda: http_ok(f"{url}/_health"),
    )
    return [server], providers
