"""The OPeNDAP server of the demo lake's NetCDF files, started once per test session on a free loopback port.

Registered as a plugin by tests/conftest.py: ``opendap_server`` (the running :class:`OpendapServer`, its
``requests`` log of every constraint expression it answered) and ``opendap_catalog`` (the lake's NetCDF published as
``<hub>-opendap`` STAC providers whose assets are the server's OPeNDAP endpoints).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import gaia_lab as gl
from gaia_lab.datalake.opendap import OpendapServer, publish_stac


@pytest.fixture(scope="session")
def opendap_server(lake_dir: Path) -> Iterator[OpendapServer]:
    with OpendapServer(lake_dir) as server:
        yield server


@pytest.fixture(scope="session")
def opendap_catalog(
    opendap_server: OpendapServer, lake_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> gl.Catalog:
    providers = publish_stac(lake_dir, opendap_server.url, tmp_path_factory.mktemp("opendap-stac"))
    return gl.open_catalog({"providers": providers})
