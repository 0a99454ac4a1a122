"""`gaia-lab up`'s OPeNDAP component: its port and switch in the config, the sessions' environment, the hubs'
OPeNDAP catalogues written for the sessions, and the server process it runs answering DAP requests."""

from __future__ import annotations

import sys
import urllib.request
from pathlib import Path

import pystac
import pytest
import yaml

import gaia_lab as gl
from gaia_lab.errors import ConfigError
from gaia_lab.platform import components as platform_components
from gaia_lab.platform import hub_config
from gaia_lab.platform import opendap as platform_opendap
from gaia_lab.platform.config import PORT_NAMES, load_config
from gaia_lab.platform.federation import write_session_federation
from gaia_lab.platform.layout import PORT_OWNERS, Layout, Ports, free_port


def ports(**chosen: int) -> Ports:
    return Ports(**{name: chosen.get(name, 18000 + index) for index, name in enumerate(PORT_OWNERS)})


def test_config_has_an_opendap_port_and_switch() -> None:
    config = load_config(None)
    assert config.opendap is True and config.opendap_port == 8010
    assert "opendap_port" in PORT_NAMES and PORT_OWNERS["opendap_port"] == "opendap"
    with pytest.raises(ConfigError, match="opendap_port and lake_port both use port 8005"):
        load_config(None, opendap_port=8005)


@pytest.mark.parametrize("enabled", [True, False])
def test_sessions_get_the_opendap_url(tmp_path: Path, enabled: bool) -> None:
    config = load_config(None, data_dir=str(tmp_path), opendap=enabled, user_accounts="shared")
    layout = Layout.from_config(config)
    environment = hub_config.session_environment(config, layout, ports(opendap_port=18010), "/venv/bin/python")
    if enabled:
        assert environment["GAIA_LAB_OPENDAP_URL"] == "http://127.0.0.1:18010/"
    else:
        assert "GAIA_LAB_OPENDAP_URL" not in environment


def test_component_serves_the_lake_and_sessions_open_it(tmp_path: Path, lake_dir: Path) -> None:
    layout = Layout(data_dir=tmp_path / "data", lake_dir=lake_dir)
    chosen = ports(opendap_port=free_port())
    components, providers = platform_opendap.prepare(layout, "127.0.0.1", chosen, sys.executable)
    (server,) = components
    assert server.name == "opendap"
    assert server.name in platform_components.ORDER  # what `stop()` stops
    assert server.argv[1:] == [
        "-m",
        "gaia_lab.datalake.opendap",
        "--root",
        str(lake_dir),
        "--host",
        "127.0.0.1",
        "--port",
        str(chosen.opendap_port),
    ]
    assert [p["name"] for p in providers] == ["climeri-opendap", "odatis-opendap"]
    for provider in providers:
        assert Path(provider["url"]).is_relative_to(layout.catalog_file.parent / "opendap")

    # The sessions' federation: the lake's hubs over the lake server, plus the OPeNDAP catalogues.
    federation = write_session_federation(lake_dir, "http://127.0.0.1:1/", layout.catalog_file, providers)
    names = [p["name"] for p in yaml.safe_load(federation.read_text())["providers"]]
    assert names[-2:] == ["climeri-opendap", "odatis-opendap"]

    server.start()
    try:
        server.wait_healthy()
        catalog = gl.open_catalog({"providers": providers})
        collection = pystac.Collection.from_file(
            str(layout.catalog_file.parent / "opendap" / "odatis" / "ostia-sst" / "collection.json")
        )
        href = collection.assets["opendap"].href
        assert href == f"http://127.0.0.1:{chosen.opendap_port}/odatis/ostia-sst/ostia-sst.nc"
        with urllib.request.urlopen(href + ".dds", timeout=10) as response:
            assert b"Float32 sst[time = 54][latitude = 18][longitude = 432];" in response.read()
        ds = catalog["odatis-opendap/ostia-sst"].to_xarray(bbox=(-20, -2, -10, 2), datetime="2009")
        assert ds["sst"].shape == (12, 9, 13) and float(ds["sst"].mean()) > 290
    finally:
        server.stop()
    assert not server.alive()
    assert "GET /odatis/ostia-sst/ostia-sst.nc.dods?sst[" in (layout.logs_dir / "opendap.log").read_text()
