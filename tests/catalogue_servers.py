"""Real metadata catalogues for the CSW and OGC API - Records tests, each in its own process group on 127.0.0.1.

- ``start_pycsw``: pycsw 2.6.2 (CSW 2.0.2 + 3.0) on SQLite, loaded from a directory of ISO 19139 (or Dublin Core)
  XML records through ``gaia_lab/datalake/pycsw.py`` (its ``build`` then ``serve``).
- ``start_pygeoapi``: pygeoapi 0.21, its TinyDB catalogue provider serving OGC API - Records GeoJSON made from
  the same ISO records (``gaia_lab.datalake.pygeoapi``: OWSLib reads them, pygeoapi serves them).
- ``serve_directory``: a static HTTP server with range requests (GDAL, h5netcdf and zarr read byte ranges), for
  data files the records point at.

The servers run from their own virtualenvs, installed by ``scripts/install-catalogue-servers.sh``.
"""

from __future__ import annotations

import contextlib
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

from gaia_lab.datalake import pygeoapi

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


def start_pygeoapi(records: Sequence[dict[str, Any]], *, keep_files: bool = False) -> RunningServer:
    """pygeoapi serving ``records`` in the collection ``metadata``; ``.url`` is the API root."""
    python = _python(PYGEOAPI_VENV)
    launcher = _Launcher("pygeoapi", keep_files)
    try:
        port = free_port()
        url = f"http://{HOST}:{port}/"
        pygeoapi.publish_records({RECORDS_COLLECTION: records}, launcher.workdir, url=url, host=HOST, port=port)
        launcher.spawn(pygeoapi.command(python, "serve", workdir=launcher.workdir, host=HOST, port=port))
        launcher.wait_until(lambda: _answers(f"{url}collections?f=json"), "/collections", 120)
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
