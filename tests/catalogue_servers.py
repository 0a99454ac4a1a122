"""Real metadata catalogues for the CSW and OGC API - Records tests, each in its own process group on 127.0.0.1.

- ``start_pycsw``: pycsw 2.6.2 (CSW 2.0.2 + 3.0) on SQLite, loaded from a directory of ISO 19139 (or Dublin Core)
  XML records through ``gaia_lab/datalake/pycsw.py`` (its ``build`` then ``serve``).
- ``start_pygeoapi``: pygeoapi 0.21, its TinyDB catalogue provider serving OGC API - Records GeoJSON made from
  the same ISO records (OWSLib reads them: ``iso_to_record``).
- ``serve_directory``: a static HTTP server with range requests (GDAL, h5netcdf and zarr read byte ranges), for
  data files the records point at.

The servers run from their own virtualenvs, installed by ``scripts/install-catalogue-servers.sh``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stac_servers import HOST, VENVS_ROOT, RunningServer, ServerStartError, _Launcher, free_port

REPO_ROOT = Path(__file__).resolve().parents[1]
PYCSW_VENV = VENVS_ROOT / ".venv-pycsw"
PYGEOAPI_VENV = VENVS_ROOT / ".venv-pygeoapi"
PYCSW_SCRIPT = REPO_ROOT / "gaia_lab" / "datalake" / "pycsw.py"
INSTALL_HINT = "install them with scripts/install-catalogue-servers.sh"
ISO_DATA = Path(__file__).parent / "data" / "iso"
RECORDS_COLLECTION = "metadata"


def _python(venv: Path) -> Path:
    python = venv / "bin" / "python"
    if not python.exists():
        raise ServerStartError(f"no virtualenv at {venv}; {INSTALL_HINT}")
    return python


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def start_pycsw(records: Path, *, dublin_core_only: bool = False, keep_files: bool = False) -> RunningServer:
    """pycsw serving every XML record under ``records``; ``.url`` is the CSW endpoint."""
    python = _python(PYCSW_VENV)
    launcher = _Launcher("pycsw", keep_files)
    try:
        port = free_port()
        url = f"http://{HOST}:{port}/csw"
        build = [python, "-P", PYCSW_SCRIPT, "build", "--records", records, "--workdir", launcher.workdir, "--url", url]
        if dublin_core_only:
            build.append("--dublin-core-only")
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        launcher.run(build, timeout=120, env=env)
        launcher.spawn(
            [python, "-P", PYCSW_SCRIPT, "serve", "--workdir", launcher.workdir, "--host", HOST, "--port", str(port)],
            env=env,
        )
        launcher.wait_until(lambda: _answers(f"{url}?service=CSW&request=GetCapabilities"), "GetCapabilities", 60)
        launcher.server.versions = {"pycsw": "2.6.2"}
        return launcher.done(url, [], [])
    except BaseException:
        if launcher.server.processes:
            launcher.abort()
        raise


# -- ISO 19139 -> OGC API - Records GeoJSON ------------------------------------------------------------------------

_MEDIA_TYPES = {
    ".zarr": "application/vnd+zarr",
    ".tif": "image/tiff; application=geotiff; profile=cloud-optimized",
    ".nc": "application/netcdf",
    ".json": "application/json",
}


def _media_type(url: str, protocol: str) -> str | None:
    if "zarr" in protocol.lower():
        return _MEDIA_TYPES[".zarr"]
    if "stac" in protocol.lower():
        return _MEDIA_TYPES[".json"]
    suffix = Path(url.split("?", 1)[0].rstrip("/")).suffix.lower()
    return _MEDIA_TYPES.get(suffix)


def iso_to_record(xml: bytes) -> dict[str, Any]:
    """An OGC API - Records record (GeoJSON) from an ISO 19139 document, read by OWSLib: what a catalogue that
    publishes both (pycsw 3, GeoNetwork 4) serves for the same metadata."""
    import warnings

    from lxml import etree
    from owslib.iso import MD_Metadata

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        metadata = MD_Metadata(etree.fromstring(xml))
    ident = metadata.identification[0]
    themes: list[dict[str, Any]] = []
    keywords: list[str] = []
    for group in ident.keywords or []:
        words = [k.name for k in group.keywords if k.name]
        title = (group.thesaurus or {}).get("title") if group.thesaurus else None
        if title:
            themes.append({"concepts": [{"id": w} for w in words], "scheme": title})
        else:
            keywords.extend(words)
    geometry = None
    if ident.bbox is not None:
        w, s, e, n = (float(v) for v in (ident.bbox.minx, ident.bbox.miny, ident.bbox.maxx, ident.bbox.maxy))
        geometry = {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}
    time_member = None
    start, end = getattr(ident, "temporalextent_start", None), getattr(ident, "temporalextent_end", None)
    if start or end:
        time_member = {"interval": [start or "..", end or ".."]}
    online = list(metadata.distribution.online or []) if metadata.distribution else []
    for distributor in (metadata.distribution.distributor or []) if metadata.distribution else []:
        online.extend(distributor.online or [])
    links = []
    for resource in online:
        if not resource.url:
            continue
        link = {"href": resource.url, "rel": "enclosure" if "download" in str(resource.protocol).lower() else "related"}
        media_type = _media_type(resource.url, str(resource.protocol or ""))
        if media_type:
            link["type"] = media_type
        if resource.name:
            link["title"] = resource.name
        links.append(link)
    title = ident.title or metadata.identifier
    description = ident.abstract or ""
    properties: dict[str, Any] = {
        "type": "dataset",
        "title": title,
        "description": description,
        "keywords": keywords,
        "themes": themes,
        # pygeoapi's TinyDB catalogue searches ``q`` in this text and compares ``datetime`` with one property.
        "_metadata-anytext": " ".join(
            [title, description, *keywords, *(c["id"] for t in themes for c in t["concepts"])]
        ),
    }
    if start:
        properties["start_datetime"] = start
    return {
        "id": metadata.identifier,
        "type": "Feature",
        "conformsTo": ["http://www.opengis.net/spec/ogcapi-records-1/1.0/req/record-core"],
        "geometry": geometry,
        "time": time_member,
        "properties": properties,
        "links": links,
    }


def _pygeoapi_config(port: int, database: Path) -> dict[str, Any]:
    return {
        "server": {
            "bind": {"host": HOST, "port": port},
            "url": f"http://{HOST}:{port}",
            "mimetype": "application/json; charset=UTF-8",
            "encoding": "utf-8",
            "languages": ["en-US"],
            "limits": {"default_items": 10, "max_items": 100},
            "map": {"url": "https://tile.openstreetmap.org/{z}/{x}/{y}.png", "attribution": "OSM"},
            "admin": False,
        },
        "logging": {"level": "ERROR"},
        "metadata": {
            "identification": {
                "title": {"en": "GAIA Lab records"},
                "description": {"en": "ISO records as OGC API - Records"},
                "keywords": {"en": ["records"]},
                "keywords_type": "theme",
                "terms_of_service": "https://creativecommons.org/licenses/by/4.0/",
                "url": "https://example.org",
            },
            "license": {"name": "CC-BY 4.0", "url": "https://creativecommons.org/licenses/by/4.0/"},
            "provider": {"name": "GAIA Lab", "url": "https://example.org"},
            "contact": {"name": "GAIA Lab", "email": "gaia-lab@localhost"},
        },
        "resources": {
            RECORDS_COLLECTION: {
                "type": "collection",
                "title": "Metadata records",
                "description": "ISO 19139 records published as OGC API - Records",
                "keywords": ["metadata"],
                "links": [],
                "extents": {
                    "spatial": {"bbox": [-180, -90, 180, 90], "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"}
                },
                "providers": [
                    {
                        "type": "record",
                        "name": "TinyDBCatalogue",
                        "data": str(database),
                        "id_field": "id",
                        "time_field": "start_datetime",
                        "title_field": "title",
                    }
                ],
            }
        },
    }


def start_pygeoapi(records: Sequence[dict[str, Any]], *, keep_files: bool = False) -> RunningServer:
    """pygeoapi serving ``records`` in the collection ``metadata``; ``.url`` is the API root."""
    import yaml

    python = _python(PYGEOAPI_VENV)
    launcher = _Launcher("pygeoapi", keep_files)
    try:
        port = free_port()
        database = launcher.workdir / "records.tinydb"
        # pygeoapi 0.21's TinyDB bbox test calls shapely's shape() on every record's geometry and answers 500 for
        # a null one (a record without extent): such records are stored without the member, which TinyDB skips.
        stored = [{k: v for k, v in r.items() if not (k == "geometry" and v is None)} for r in records]
        database.write_text(json.dumps({"_default": {str(i + 1): r for i, r in enumerate(stored)}}))
        database.chmod(0o444)  # read-only: pygeoapi opens TinyDB read-only and never rewrites it
        config = launcher.workdir / "pygeoapi.yml"
        config.write_text(yaml.safe_dump(_pygeoapi_config(port, database)))
        openapi = launcher.workdir / "openapi.yml"
        env = {**os.environ, "PYGEOAPI_CONFIG": str(config), "PYGEOAPI_OPENAPI": str(openapi)}
        launcher.run(
            [PYGEOAPI_VENV / "bin" / "pygeoapi", "openapi", "generate", config, "--output-file", openapi],
            timeout=120,
            env=env,
        )
        serve = (
            "from werkzeug.serving import run_simple; from pygeoapi.flask_app import APP; "
            f"run_simple({HOST!r}, {port}, APP, threaded=True)"
        )
        launcher.spawn([python, "-P", "-c", serve], env=env)
        url = f"http://{HOST}:{port}/"
        launcher.wait_until(lambda: _answers(f"{url}collections?f=json"), "/collections", 60)
        launcher.server.versions = {"pygeoapi": "0.21.0"}
        return launcher.done(url, [{"id": RECORDS_COLLECTION}], list(records))
    except BaseException:
        if launcher.server.processes:
            launcher.abort()
        raise


# -- records of the demo lake ---------------------------------------------------------------------------------------

# Records whose one online resource is a file of the lake (served at ``<server>/lake/...``, the NetCDF at
# ``<server>/netcdf/...``): identifier -> (title, path under the server, protocol, name)
LAKE_FILE_RECORDS = {
    "gaia-test:ostia-sst-zarr": (
        "OSTIA sea surface temperature, Zarr store",
        "lake/odatis/ostia-sst/ostia-sst.zarr",
        "WWW:DOWNLOAD-Zarr",
        "zarr",
    ),
    "gaia-test:ostia-sst-cog": (
        "OSTIA sea surface temperature, April 2006, Cloud-Optimized GeoTIFF",
        "lake/odatis/ostia-sst-monthly/ostia-sst-2006-04/sst.tif",
        "WWW:DOWNLOAD-1.0-http--download",
        "sst",
    ),
    "gaia-test:ostia-sst-netcdf": (
        "OSTIA sea surface temperature, NetCDF-4",
        "netcdf/ostia-sst.nc",
        "WWW:DOWNLOAD-1.0-http--download",
        "ostia-sst.nc",
    ),
}


def write_lake_records(lake: Path, target: Path, server_url: str) -> list[Path]:
    """ISO records for the lake served at ``server_url``: the ODATIS and AERIS collections as the lake build
    describes them, and one record per file of :data:`LAKE_FILE_RECORDS`."""
    import pystac

    from gaia_lab.datalake.iso import (
        CF_THESAURUS,
        GCMD_THESAURUS,
        ISO_HUBS,
        IsoDescription,
        OnlineResource,
        collection_description,
        iso_record,
    )

    target.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for provider in ISO_HUBS:
        catalog = pystac.Catalog.from_file(str(lake / provider / "catalog.json"))
        for collection in catalog.get_children():
            assert isinstance(collection, pystac.Collection)
            description = collection_description(collection, provider, lake, f"{server_url}/lake")
            path = target / f"{provider}-{collection.id}.xml"
            path.write_bytes(iso_record(description))
            written.append(path)
    ostia = pystac.Collection.from_file(str(lake / "odatis" / "ostia-sst" / "collection.json"))
    box = ostia.extent.spatial.bboxes[0]
    start, end = ostia.extent.temporal.intervals[0]
    for identifier, (title, path, protocol, name) in LAKE_FILE_RECORDS.items():
        description = IsoDescription(
            identifier=identifier,
            title=title,
            abstract=f"{ostia.description} One file, published on its own.",
            bbox=(max(box[0], -180.0), box[1], min(box[2], 180.0), box[3]),
            start=start,
            end=end,
            keywords=[
                (GCMD_THESAURUS, ["EARTH SCIENCE > OCEANS > OCEAN TEMPERATURE > SEA SURFACE TEMPERATURE"]),
                (CF_THESAURUS, ["sea_surface_temperature"]),
            ],
            online=[OnlineResource(f"{server_url}/{path}", protocol, name)],
            organisation="ODATIS",
        )
        file = target / f"{identifier.replace(':', '-')}.xml"
        file.write_bytes(iso_record(description))
        written.append(file)
    return written


# -- static files with range requests ------------------------------------------------------------------------------


@dataclass
class StaticServer:
    """The platform's lake server (aiohttp: Range, HEAD) serving ``root``; GDAL, fsspec and zarr read from it."""

    url: str
    root: Path
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def serve_directory(root: Path) -> StaticServer:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gaia_lab.platform.lake_server",
            "--root",
            str(root),
            "--host",
            HOST,
            "--port",
            str(port),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    server = StaticServer(f"http://{HOST}:{port}", root, process)
    if not wait_for(lambda: _answers(f"{server.url}/_health") or process.poll() is not None, 30) or process.poll():
        server.stop()
        raise ServerStartError(f"the lake server did not start on {server.url}")
    return server


def copy_records(paths: Iterable[Path], target: Path) -> Path:
    target.mkdir(parents=True, exist_ok=True)
    for path in paths:
        shutil.copy(path, target / path.name)
    return target


def wait_for(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False
