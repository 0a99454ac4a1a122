"""Fixtures for catalogue tests against real servers on 127.0.0.1.

- ``pgstac_api`` / ``geoparquet_api`` (session): the demo lake's collections and items served by stac-fastapi-pgstac
  (PostgreSQL + PostGIS) and stac-fastapi-geoparquet; ``lake_stac`` is what both load.
- ``pycsw_server`` / ``records_server`` (session): pycsw (CSW 2.0.2 + 3.0) and pygeoapi (OGC API - Records) loaded
  with the recorded ISO records of tests/data/iso plus records written for the demo lake's files, which
  ``lake_http`` serves over HTTP; ``pycsw_dc_server`` serves Dublin Core only (see tests/catalogue_servers.py).
- fault servers (per test): ``slow_api``, ``broken_json_api``, ``error_500_api``, ``flaky_503_api``,
  ``unauthorized_api``, ``forbidden_api``, ``stopped_api_url``, and the ``fault_server`` factory for other faults.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# tests/ holds shared helpers that are not a package; make them importable whatever the rootdir conftest does.
_TESTS = str(Path(__file__).resolve().parents[1])
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from catalogue_servers import (  # noqa: E402
    ISO_DATA,
    StaticServer,
    copy_records,
    serve_directory,
    start_pycsw,
    start_pygeoapi,
    write_lake_records,
)
from fault_servers import Fault, FaultServer, start_fault_server, stopped_server_url  # noqa: E402
from stac_servers import (  # noqa: E402
    RunningServer,
    ServerStartError,
    StacRecords,
    read_lake,
    start_geoparquet,
    start_pgstac,
)

from gaia_lab.datalake.pygeoapi import iso_to_record  # noqa: E402

SERVER_FIXTURES = ("pgstac_api", "geoparquet_api", "pycsw_server", "pycsw_dc_server", "records_server")


@pytest.fixture(scope="session")
def lake_stac(lake_dir: Path) -> StacRecords:
    """The demo lake's collections and items, with absolute file:// asset hrefs, as the API servers load them."""
    return read_lake(lake_dir)


def _serve(start: Callable[..., RunningServer], *args: Any, **kwargs: Any) -> Iterator[RunningServer]:
    """A server started once, failing the tests that need it with its log's end when it cannot start."""
    try:
        server = start(*args, **kwargs)
    except ServerStartError as error:
        pytest.fail(str(error), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pgstac_api(lake_stac: StacRecords) -> Iterator[RunningServer]:
    """stac-fastapi-pgstac serving the whole lake; ``.url`` is the API root."""
    yield from _serve(start_pgstac, lake_stac.collections, lake_stac.items)


@pytest.fixture(scope="session")
def geoparquet_api(lake_stac: StacRecords) -> Iterator[RunningServer]:
    """stac-fastapi-geoparquet serving the whole lake; ``.url`` is the API root."""
    yield from _serve(start_geoparquet, lake_stac.collections, lake_stac.items)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    # A failing test that used a server gets that server's log in its report.
    report = yield
    if report.failed:
        funcargs = getattr(item, "funcargs", {})
        for name in SERVER_FIXTURES:
            server = funcargs.get(name)
            if isinstance(server, RunningServer):
                report.sections.append((f"{name} log ({server.log_path})", server.log()))
    return report


@pytest.fixture
def fault_server() -> Iterator[Callable[[Fault], FaultServer]]:
    """Factory: ``fault_server(Fault("status", status=502))`` starts a server stopped at teardown."""
    servers: list[FaultServer] = []

    def start(fault: Fault) -> FaultServer:
        server = start_fault_server(fault)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def slow_api(fault_server: Callable[[Fault], FaultServer]) -> FaultServer:
    """Answers nothing for 30 s (any client timeout is shorter); teardown releases the sleeping requests."""
    return fault_server(Fault("sleep", delay=30.0))


@pytest.fixture
def broken_json_api(fault_server: Callable[[Fault], FaultServer]) -> FaultServer:
    """200 with a JSON content type and a truncated JSON body, on every path."""
    return fault_server(Fault("broken-json"))


@pytest.fixture
def error_500_api(fault_server: Callable[[Fault], FaultServer]) -> FaultServer:
    return fault_server(Fault("status", status=500))


@pytest.fixture
def flaky_503_api(fault_server: Callable[[Fault], FaultServer]) -> FaultServer:
    """503 (Retry-After: 0) for the first two requests, then a working API; ``.requests`` shows the retries."""
    return fault_server(Fault("status", status=503, times=2))


@pytest.fixture
def unauthorized_api(fault_server: Callable[[Fault], FaultServer]) -> FaultServer:
    """401 with ``WWW-Authenticate: Bearer``."""
    return fault_server(Fault("status", status=401))


@pytest.fixture
def forbidden_api(fault_server: Callable[[Fault], FaultServer]) -> FaultServer:
    return fault_server(Fault("status", status=403))


@pytest.fixture
def stopped_api_url() -> str:
    """A URL where a server was and is no longer: connections are refused."""
    return stopped_server_url()


# -- metadata catalogues (CSW, OGC API - Records) -------------------------------------------------------------------


@pytest.fixture(scope="session")
def lake_http(lake_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[StaticServer]:
    """A copy of the lake over HTTP (the platform's lake server: Range, HEAD) under ``/lake/``, plus
    ``/netcdf/ostia-sst.nc``: the OSTIA Zarr store written as NetCDF-4, as a hub would publish it."""
    import xarray as xr

    root = tmp_path_factory.mktemp("served")
    shutil.copytree(lake_dir, root / "lake", ignore=shutil.ignore_patterns("*.partial"))  # a few MB
    (root / "netcdf").mkdir()
    with xr.open_zarr(lake_dir / "odatis" / "ostia-sst" / "ostia-sst.zarr") as ds:
        ds.load().to_netcdf(root / "netcdf" / "ostia-sst.nc", engine="h5netcdf")
    server = serve_directory(root)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def lake_records(lake_dir: Path, lake_http: StaticServer, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ISO records of the lake: the ODATIS and AERIS collections as `gaia-lab data build` describes them (links
    under ``lake_http``), and three records whose only online resource is one file: Zarr, COG and NetCDF."""
    target = tmp_path_factory.mktemp("lake-records")
    for path in write_lake_records(lake_dir, target, lake_http.url):
        assert path.exists()
    return target


@pytest.fixture(scope="session")
def all_iso_records(lake_records: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("iso-records")
    copy_records(sorted((ISO_DATA / "records").glob("*.xml")), target)
    copy_records(sorted(lake_records.glob("*.xml")), target)
    return target


@pytest.fixture(scope="session")
def pycsw_server(all_iso_records: Path) -> Iterator[RunningServer]:
    """pycsw 2.6.2 on SQLite serving the recorded and the lake's ISO records; ``.url`` is the CSW endpoint."""
    yield from _serve(start_pycsw, all_iso_records)


@pytest.fixture(scope="session")
def pycsw_dc_server() -> Iterator[RunningServer]:
    """pycsw without its ISO profile, serving the CITE Dublin Core records."""
    yield from _serve(start_pycsw, ISO_DATA / "dublin-core", dublin_core_only=True)


@pytest.fixture(scope="session")
def records_server(all_iso_records: Path) -> Iterator[RunningServer]:
    """pygeoapi 0.21 serving the same records as OGC API - Records GeoJSON (collection ``metadata``)."""
    records = [iso_to_record(path.read_bytes()) for path in sorted(all_iso_records.glob("*.xml"))]
    yield from _serve(start_pygeoapi, records)
