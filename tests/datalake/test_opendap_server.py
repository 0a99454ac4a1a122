"""The lake's OPeNDAP server: pydap's NetCDF handler made to serve hyperslabs and a DAS netCDF-C parses, the lake's
NetCDF files and their OPeNDAP STAC, a server that stops cleanly and serves nothing outside its root."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import netCDF4
import numpy as np
import pystac
import pytest
import xarray as xr
from pydap.handlers.netcdf_handler import NetCDFHandler
from webob import Request as WebRequest

from gaia_lab.datalake.opendap import HyperslabNetCDFHandler, OpendapServer, publish_stac
from gaia_lab.stac_item import OPENDAP_ROLE, OPENDAP_TYPE, asset_format

OSTIA = "odatis/ostia-sst/ostia-sst.nc"
A1B = "climeri/sres-a1b-tas/sres-a1b-tas.nc"
HYPERSLAB = "sst[0:1][2:4][0:9]"


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def dods_body(response: bytes) -> bytes:
    """The XDR part of a DODS response (after the DDS)."""
    return response.split(b"\nData:\n", 1)[1]


def test_lake_publishes_netcdf_beside_zarr(lake_dir: Path) -> None:
    for relative, zarr in ((OSTIA, "ostia-sst.zarr"), (A1B, "sres-a1b-tas.zarr")):
        path = lake_dir / relative
        collection = pystac.Collection.from_file(str(path.parent / "collection.json"))
        asset = collection.assets["netcdf"]
        assert asset.media_type == "application/x-netcdf" and "data" in (asset.roles or [])
        assert Path(asset.get_absolute_href() or "").resolve() == path.resolve()
        assert path.stat().st_size < 4 * 2**20  # a few MB: the lake still builds in about a minute
        with xr.open_dataset(path) as nc, xr.open_zarr(path.parent / zarr) as store:
            name = next(iter(store.data_vars))
            xr.testing.assert_identical(nc[name].load(), store[name].load())


def test_stock_pydap_handler_fails_on_a_hyperslab_and_ours_serves_it(lake_dir: Path) -> None:
    """The upstream bug (docs/opendap.md): pydap 3.5.9 reshapes every read to the variable's full shape."""
    path = str(lake_dir / OSTIA)
    request = f"/ostia-sst.nc.dods?{HYPERSLAB}"
    stock = NetCDFHandler(path).dataset["sst"].data
    with pytest.raises(ValueError, match="cannot reshape array of size 60"):
        stock[0:2, 2:5, 0:10]
    ours = WebRequest.blank(request).get_response(HyperslabNetCDFHandler(path))
    assert ours.status_code == 200
    with netCDF4.Dataset(path) as nc:
        expected = np.asarray(nc["sst"][0:2, 2:5, 0:10], dtype=">f4")
    # DAP2 arrays: the length twice, then big-endian values
    body = dods_body(ours.body)
    assert np.frombuffer(body[:8], dtype=">i4").tolist() == [expected.size, expected.size]
    np.testing.assert_array_equal(np.frombuffer(body[8:], dtype=">f4").reshape(expected.shape), expected)


def test_netcdf_c_reads_every_attribute_from_the_das(opendap_server: OpendapServer, lake_dir: Path) -> None:
    # The WKT of the grid mapping holds double quotes: unescaped (pydap's DAS), netCDF-C drops all attributes.
    with netCDF4.Dataset(f"{opendap_server.url}/{OSTIA}") as remote, netCDF4.Dataset(lake_dir / OSTIA) as local:
        assert '"WGS 84"' in local["spatial_ref"].getncattr("crs_wkt")
        for name in ("sst", "spatial_ref", "time", "latitude"):
            for key in local[name].ncattrs():
                assert key in remote[name].ncattrs(), (name, key)
                value = local[name].getncattr(key)
                if isinstance(value, str):
                    assert remote[name].getncattr(key) == value, (name, key)
        assert remote.getncattr("title") == local.getncattr("title")
        assert "dimensions" not in " ".join(remote.ncattrs())


def test_server_logs_constraints_and_bytes(opendap_server: OpendapServer) -> None:
    before = len(opendap_server.requests)
    status, body = get(f"{opendap_server.url}/{OSTIA}.dods?{HYPERSLAB}")
    assert status == 200
    logged = opendap_server.requests[before:]
    assert [(r.path, r.constraint, r.status) for r in logged] == [(f"/{OSTIA}.dods", HYPERSLAB, 200)]
    assert logged[0].nbytes == len(body)
    assert len(dods_body(body)) == 8 + 2 * 3 * 10 * 4


@pytest.mark.parametrize(
    "path",
    [
        "/odatis/ostia-sst/../ostia-sst/ostia-sst.nc.dds",
        "/odatis/ostia-sst/collection.json.dds",  # not NetCDF
        "/odatis/ostia-sst/ostia-sst.nc",  # no DAP response named
        "/odatis/ostia-sst/missing.nc.dds",
        "/%2e%2e/etc/passwd.nc.dds",
        "//etc/hostname.nc.das",
        "/odatis/ostia-sst/ostia-sst.nc.dmr",  # DAP4: not served
        "/odatis/ostia-sst/ostia-sst.nc.ascii",  # broken in pydap 3.5.9 for NetCDF: not served
    ],
)
def test_only_netcdf_files_under_the_root_are_served(opendap_server: OpendapServer, path: str) -> None:
    status, body = get(opendap_server.url + path)
    assert status == 404
    assert b"root" not in body and b"/" not in body


def test_publish_stac_marks_opendap_assets(opendap_server: OpendapServer, lake_dir: Path, tmp_path: Path) -> None:
    providers = publish_stac(lake_dir, opendap_server.url, tmp_path)
    assert {(p["name"], p["hub"], p["type"]) for p in providers} == {
        ("odatis-opendap", "ocean", "stac"),
        ("climeri-opendap", "climate", "stac"),
    }
    for provider in providers:
        catalog = pystac.Catalog.from_file(provider["url"])
        for collection in catalog.get_collections():
            source = pystac.Collection.from_file(
                str(lake_dir / provider["name"].split("-")[0] / collection.id / "collection.json")
            )
            assert collection.extent.to_dict() == source.extent.to_dict()
            assert collection.extra_fields["cube:variables"] == source.extra_fields["cube:variables"]
            (asset,) = collection.assets.values()
            assert asset.media_type == OPENDAP_TYPE and asset.roles == ["data", OPENDAP_ROLE]
            assert asset_format(asset.to_dict()) == "opendap"
            assert asset.href.startswith(opendap_server.url + "/")
            status, _ = get(asset.href + ".dds")
            assert status == 200


def test_server_stops_cleanly(lake_dir: Path) -> None:
    server = OpendapServer(lake_dir).start()
    host, port = server.url.removeprefix("http://").split(":")
    assert get(f"{server.url}/_health")[0] == 200
    server.stop()
    with pytest.raises(ConnectionRefusedError), socket.create_connection((host, int(port)), timeout=2):
        pass


def test_module_runs_as_a_server_process(lake_dir: Path) -> None:
    """What `gaia-lab up` starts: python -m gaia_lab.datalake.opendap."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "gaia_lab.datalake.opendap", "--root", str(lake_dir), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, body = get(f"http://127.0.0.1:{port}/_health")
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.fail("the OPeNDAP server process did not answer within 30 s")
                time.sleep(0.1)
        assert status == 200 and json.loads(body) == {"status": "ok"}
        status, body = get(f"http://127.0.0.1:{port}/{A1B}.dds")
        assert status == 200 and b"Float32 tas[time = 240][latitude = 37][longitude = 49];" in body
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_an_unreadable_file_is_a_server_error_without_paths(lake_dir: Path, tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.nc"
    truncated.write_bytes((lake_dir / OSTIA).read_bytes()[:5000])
    with OpendapServer(tmp_path) as server:
        status, body = get(f"{server.url}/truncated.nc.dds")
        assert (status, body) == (500, b"cannot read this dataset")
        assert [(r.path, r.status) for r in server.requests] == [("/truncated.nc.dds", 500)]
