"""What the openEO API is configured with, without starting it: the federation's entries as openEO collections,
the port trait, and the reasons the platform gives when it cannot serve openEO."""

from __future__ import annotations

from pathlib import Path

from gaia_lab.openeo_api import collection, collections
from gaia_lab.platform import openeo_service
from gaia_lab.platform.config import PORT_NAMES, load_config
from gaia_lab.platform.layout import PORT_OWNERS, resolve_ports


def test_gridded_entries_become_openeo_collections_with_the_cube_dimensions(lake_catalog):
    listed = {c["id"]: c for c in collections(lake_catalog)}
    sst = listed["odatis/ostia-sst-monthly"]
    entry = lake_catalog["odatis/ostia-sst-monthly"]
    assert sst == collection(entry)
    dims = sst["cube:dimensions"]
    assert set(dims) == {"x", "y", "t", "bands"}  # what load_collection's cube has (gaia_lab.processing.openeo_graph)
    assert dims["bands"]["values"] == ["sst"]
    assert sst["extent"]["temporal"]["interval"] == [["2006-04-01T00:00:00Z", "2010-09-30T23:59:59Z"]]
    assert sst["extent"]["spatial"]["bbox"] == [list(entry.bbox)]
    # entries without variables (vector tables, ...) are not offered as raster collections
    assert all(c["cube:dimensions"]["bands"]["values"] for c in listed.values())


def test_the_openeo_port_is_a_platform_port_and_takes_none_when_off(tmp_path: Path):
    assert "openeo_port" in PORT_NAMES and PORT_OWNERS["openeo_port"] == "openeo"
    assert load_config(None).openeo_port == 8014
    off = load_config(None, data_dir=str(tmp_path), openeo=False, **dict.fromkeys(PORT_NAMES, 0))
    assert resolve_ports(off).openeo_port == 0
    on = load_config(None, data_dir=str(tmp_path), **dict.fromkeys(PORT_NAMES, 0))
    assert resolve_ports(on).openeo_port > 0


def test_a_missing_api_venv_is_reported(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("GAIA_LAB_OPENEO_API_PYTHON", str(tmp_path / "nope" / "python"))
    assert "install-openeo-api.sh" in str(openeo_service.missing())
