"""The hubs' metadata catalogues on the platform: the ISO 19139 records of the hubs whose real catalogues speak CSW
(ODATIS's Sextant, AERIS), served by pycsw (OGC CSW 2.0.2 / 3.0) and pygeoapi (OGC API - Records), and added to
the sessions' federation beside the hubs' STAC.

The records are written at each start from the lake's STAC, with online resources on the lake server, so the
sessions open them over HTTP. pycsw and pygeoapi pin their own dependencies and run from their own virtualenvs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gaia_lab.datalake import pycsw, pygeoapi
from gaia_lab.datalake.iso import ISO_HUBS, write_iso_records
from gaia_lab.errors import PlatformError
from gaia_lab.platform.components import base_env
from gaia_lab.platform.config import PlatformConfig
from gaia_lab.platform.layout import Layout, Ports
from gaia_lab.platform.processes import Component, http_ok

INSTALL_HINT = "install them with scripts/install-catalogue-servers.sh, or set metadata_catalogues = False"
_ORGANISATIONS = {"odatis": "ODATIS", "aeris": "AERIS"}


@dataclass(frozen=True)
class CatalogueServers:
    pycsw_python: Path
    pygeoapi_python: Path


def find_servers(config: PlatformConfig) -> tuple[CatalogueServers | None, str]:
    """The servers' interpreters, or None and why not."""
    if not config.metadata_catalogues:
        return None, "metadata_catalogues is off"
    root = Path(
        config.catalogue_servers_root
        or os.environ.get("GAIA_LAB_STAC_SERVERS_ROOT")
        or Path(__file__).resolve().parents[2]
    )
    servers = CatalogueServers(root / ".venv-pycsw" / "bin" / "python", root / ".venv-pygeoapi" / "bin" / "python")
    missing = [str(p) for p in (servers.pycsw_python, servers.pygeoapi_python) if not os.access(p, os.X_OK)]
    if missing:
        return None, f"{', '.join(missing)} not found; {INSTALL_HINT}"
    return servers, ""


def _hubs(lake_dir: Path) -> dict[str, str]:
    """provider -> hub of the lake's providers that publish ISO records."""
    document = yaml.safe_load((lake_dir / "federation.yaml").read_text())
    return {
        str(p["name"]): str(p["hub"])
        for p in document.get("providers", [])
        if isinstance(p, dict) and p.get("name") in ISO_HUBS and (lake_dir / str(p["name"]) / "catalog.json").exists()
    }


def write_records(lake_dir: Path, lake_url: str, target: Path, providers: list[str]) -> dict[str, list[Path]]:
    """One ISO 19139 file per collection of each provider, its online resources on the lake server."""
    if target.exists():
        shutil.rmtree(target)  # collections removed from the lake since the last start go too
    written = write_iso_records(lake_dir, providers, base_url=lake_url, target=target)
    return {provider: [path for path in written if path.parent.name == provider] for provider in providers}


def _csw_url(ip: str, ports: Ports, provider: str) -> str:
    return f"http://{ip}:{ports.csw_port}/{provider}/csw"


def prepare(
    servers: CatalogueServers, layout: Layout, ip: str, ports: Ports, lake_url: str
) -> tuple[list[Component], list[dict[str, Any]]]:
    """Records, pycsw databases and pygeoapi's TinyDB written; the two components to start and the providers the
    sessions' federation gains."""
    hubs = _hubs(layout.lake_dir)
    if not hubs:
        return [], []
    root = layout.data_dir / "catalogues"
    records = write_records(layout.lake_dir, lake_url, root / "records", sorted(hubs))
    endpoints: list[str] = []
    for provider, files in records.items():
        workdir = root / f"csw-{provider}"
        line = pycsw.command(
            servers.pycsw_python,
            "build",
            records=root / "records" / provider,
            workdir=workdir,
            url=_csw_url(ip, ports, provider),
        )
        try:
            subprocess.run(line, check=True, capture_output=True, text=True, timeout=300)
        except subprocess.CalledProcessError as exc:
            raise PlatformError(
                f"pycsw could not load the {provider} records ({len(files)} files): {exc.stderr[-2000:]}",
                component="csw",
            ) from None
        except subprocess.TimeoutExpired:
            raise PlatformError(f"pycsw took over 300 s to load the {provider} records", component="csw") from None
        endpoints += ["--endpoint", f"{provider}={workdir}"]
    records_url = f"http://{ip}:{ports.records_port}"
    pygeoapi.publish(records, root / "records-api", url=records_url, host=ip, port=ports.records_port)

    logs = layout.logs_dir
    first = sorted(records)[0]
    csw = Component(
        name="csw",
        argv=[
            str(servers.pycsw_python),
            "-P",
            str(pycsw.SCRIPT),
            "serve",
            *endpoints,
            "--host",
            ip,
            "--port",
            str(ports.csw_port),
        ],
        env=base_env(layout, sys.executable),
        cwd=root,
        log=logs / "csw.log",
        health=lambda: http_ok(f"{_csw_url(ip, ports, first)}?service=CSW&request=GetCapabilities"),
    )
    api = Component(
        name="records",
        argv=pygeoapi.command(
            servers.pygeoapi_python, "serve", workdir=root / "records-api", host=ip, port=ports.records_port
        ),
        env=base_env(layout, sys.executable),
        cwd=root,
        log=logs / "records.log",
        health=lambda: http_ok(f"{records_url}/collections/{first}?f=json"),
    )
    providers: list[dict[str, Any]] = []
    for provider, hub in sorted(hubs.items()):
        organisation = _ORGANISATIONS.get(provider, provider.upper())
        providers.append(
            {
                "name": f"{provider}-csw",
                "title": f"{organisation} metadata catalogue (OGC CSW, ISO 19139)",
                "hub": hub,
                "type": "csw",
                "url": _csw_url(ip, ports, provider),
            }
        )
        providers.append(
            {
                "name": f"{provider}-records",
                "title": f"{organisation} metadata records (OGC API - Records)",
                "hub": hub,
                "type": "ogcapi-records",
                "url": f"{records_url}/",
                "collection": provider,
            }
        )
    return [csw, api], providers
