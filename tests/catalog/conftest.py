"""Fixtures for catalogue tests against real servers on 127.0.0.1.

- ``pgstac_api`` / ``geoparquet_api`` (session): the demo lake's collections and items served by stac-fastapi-pgstac
  (PostgreSQL + PostGIS) and stac-fastapi-geoparquet; ``lake_stac`` is what both load.
- fault servers (per test): ``slow_api``, ``broken_json_api``, ``error_500_api``, ``flaky_503_api``,
  ``unauthorized_api``, ``forbidden_api``, ``stopped_api_url``, and the ``fault_server`` factory for other faults.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# tests/ holds shared helpers that are not a package; make them importable whatever the rootdir conftest does.
_TESTS = str(Path(__file__).resolve().parents[1])
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from fault_servers import Fault, FaultServer, start_fault_server, stopped_server_url  # noqa: E402
from stac_servers import (  # noqa: E402
    RunningServer,
    ServerStartError,
    StacRecords,
    read_lake,
    start_geoparquet,
    start_pgstac,
)

SERVER_FIXTURES = ("pgstac_api", "geoparquet_api")


@pytest.fixture(scope="session")
def lake_stac(lake_dir: Path) -> StacRecords:
    """The demo lake's collections and items, with absolute file:// asset hrefs, as the API servers load them."""
    return read_lake(lake_dir)


def _serve(start: Callable[..., RunningServer], records: StacRecords) -> Iterator[RunningServer]:
    try:
        server = start(records.collections, records.items)
    except ServerStartError as error:
        pytest.fail(str(error), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def pgstac_api(lake_stac: StacRecords) -> Iterator[RunningServer]:
    """stac-fastapi-pgstac serving the whole lake; ``.url`` is the API root."""
    yield from _serve(start_pgstac, lake_stac)


@pytest.fixture(scope="session")
def geoparquet_api(lake_stac: StacRecords) -> Iterator[RunningServer]:
    """stac-fastapi-geoparquet serving the whole lake; ``.url`` is the API root."""
    yield from _serve(start_geoparquet, lake_stac)


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
