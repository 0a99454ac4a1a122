"""Fixtures for the federation's STAC API over real servers on 127.0.0.1: stac-fastapi-pgstac and
stac-fastapi-geoparquet serving the demo lake (one member each), the lake's static catalogue as a third member, and
the API itself (uvicorn, in a thread) on a free port."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

_TESTS = str(Path(__file__).resolve().parents[1])
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)

from stac_api_servers import ServedApi, start_api  # noqa: E402
from stac_servers import (  # noqa: E402
    RunningServer,
    ServerStartError,
    StacRecords,
    read_lake,
    start_geoparquet,
    start_pgstac,
)


def _serve(start: Callable[..., RunningServer], *args: Any) -> Iterator[RunningServer]:
    try:
        server = start(*args)
    except ServerStartError as error:
        pytest.fail(str(error), pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def lake_stac(lake_dir: Path) -> StacRecords:
    return read_lake(lake_dir)


@pytest.fixture(scope="session")
def pgstac_member(lake_stac: StacRecords) -> Iterator[RunningServer]:
    yield from _serve(start_pgstac, lake_stac.collections, lake_stac.items)


@pytest.fixture(scope="session")
def geoparquet_member(lake_stac: StacRecords) -> Iterator[RunningServer]:
    yield from _serve(start_geoparquet, lake_stac.collections, lake_stac.items)


@pytest.fixture(scope="session")
def members(pgstac_member: RunningServer, geoparquet_member: RunningServer, lake_dir: Path) -> list[dict[str, Any]]:
    """Three members of different kinds: two STAC APIs that page with their own tokens, a static catalogue."""
    return [
        {"name": "pgstac", "hub": "ocean", "type": "stac", "url": pgstac_member.url, "timeout": 30},
        {"name": "geoparquet", "hub": "land", "type": "stac", "url": geoparquet_member.url, "timeout": 30},
        {"name": "lake", "hub": "ocean", "type": "stac", "url": str(lake_dir / "odatis" / "catalog.json")},
    ]


@pytest.fixture(scope="session")
def federation_api(members: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedApi]:
    api = start_api(members, tmp_path_factory.mktemp("stac-api"))
    try:
        yield api
    finally:
        api.stop()
