"""OPeNDAP assets and links as lazy cubes, against the lake's OPeNDAP server: metadata only at open, the request's
subset read on the server as one hyperslab (seen in the server's log), values equal to the source file's, and typed
errors for a server that is down, hangs, or a request that selects nothing."""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from fault_servers import Fault, start_fault_server

import gaia_lab as gl
from gaia_lab.catalog.providers.links import Link, open_links
from gaia_lab.cube import open_opendap
from gaia_lab.datalake.opendap import OpendapServer, Request
from gaia_lab.errors import AssetError, EmptyResult, InvalidQuery
from gaia_lab.query import CubeRequest

OSTIA = "odatis/ostia-sst/ostia-sst.nc"
A1B = "climeri/sres-a1b-tas/sres-a1b-tas.nc"
BBOX = (-20.0, -2.0, -10.0, 2.0)  # the equatorial Atlantic: all ocean
HYPERSLAB = re.compile(r"^(\w+)((?:\[\d+:\d+\])+)$")


def data_reads(requests: list[Request], variable: str) -> list[Request]:
    return [r for r in requests if r.path.endswith(".dods") and r.constraint.split("[", 1)[0] == variable]


def slab(request: Request) -> list[tuple[int, int]]:
    match = HYPERSLAB.match(request.constraint)
    assert match, f"not a hyperslab: {request.constraint!r}"
    return [tuple(map(int, part.split(":"))) for part in match.group(2)[1:-1].split("][")]  # type: ignore[misc]


def test_open_reads_metadata_only_and_compute_reads_the_subset_as_one_hyperslab(
    opendap_catalog: gl.Catalog, opendap_server: OpendapServer, lake_dir: Path
) -> None:
    before = len(opendap_server.requests)
    ds = opendap_catalog["odatis-opendap/ostia-sst"].to_xarray(bbox=BBOX, datetime="2007-01-01/2007-06-30")
    assert isinstance(ds["sst"].data, type(ds["sst"].chunk().data))  # dask
    at_open = opendap_server.requests[before:]
    assert at_open and not data_reads(at_open, "sst")  # DDS, DAS and coordinates only
    values = ds["sst"].values
    assert np.isfinite(values).all()
    reads = data_reads(opendap_server.requests[before:], "sst")
    assert len(reads) == 1
    # The server was asked for the selection only: 6 months x 9 latitudes x 13 longitudes of 54 x 18 x 432.
    assert [stop - start + 1 for start, stop in slab(reads[0])] == list(values.shape) == [6, 9, 13]
    full = 54 * 18 * 432 * 4
    assert reads[0].nbytes < 8 + values.size * 4 + 400 < full / 100

    # The same subset of the source file, read directly.
    with xr.open_dataset(lake_dir / OSTIA) as source:
        expected = source["sst"].sel(
            time=slice("2007-01-01", "2007-06-30"), latitude=ds.latitude.values, longitude=ds.longitude.values
        )
        np.testing.assert_array_equal(values, expected.values)
        (t0, t1), (y0, y1), (x0, x1) = slab(reads[0])
        np.testing.assert_array_equal(values, source["sst"].values[t0 : t1 + 1, y0 : y1 + 1, x0 : x1 + 1])


def test_opendap_cube_equals_the_zarr_cube_of_the_same_collection(
    opendap_catalog: gl.Catalog, lake_catalog: gl.Catalog
) -> None:
    query = {"bbox": (-30.0, -5.0, 30.0, 5.0), "datetime": "2008"}
    remote = opendap_catalog["odatis-opendap/ostia-sst"].to_xarray(**query)
    local = lake_catalog["odatis/ostia-sst"].to_xarray(**query)
    assert 0.5 < float(np.isfinite(remote["sst"]).mean()) < 1  # ocean and land (NaN) alike
    xr.testing.assert_equal(remote["sst"].compute(), local["sst"].compute())
    assert remote.rio.crs == local.rio.crs


def test_model_calendar_time_selection_is_pushed_too(
    opendap_catalog: gl.Catalog, opendap_server: OpendapServer, lake_dir: Path
) -> None:
    before = len(opendap_server.requests)
    ds = opendap_catalog["climeri-opendap/sres-a1b-tas"].to_xarray(bbox=(-100, 30, -90, 40), datetime="2000/2009")
    values = ds["tas"].values
    assert np.isfinite(values).all()
    (read,) = data_reads(opendap_server.requests[before:], "tas")
    (t0, t1), (y0, y1), (x0, x1) = slab(read)
    assert values.shape == (t1 - t0 + 1, y1 - y0 + 1, x1 - x0 + 1) == (10, 9, 6)
    assert type(ds.indexes["time"]).__name__ == "CFTimeIndex"  # the 360-day calendar survives DAP
    with netcdf_file(lake_dir / A1B) as source:
        np.testing.assert_array_equal(values, source["tas"].values[t0 : t1 + 1, y0 : y1 + 1, x0 : x1 + 1])


def netcdf_file(path: Path) -> xr.Dataset:
    return xr.open_dataset(path, decode_times=xr.coders.CFDatetimeCoder(use_cftime=True))


def test_variables_and_chunks_are_requested_per_chunk(opendap_server: OpendapServer) -> None:
    url = f"{opendap_server.url}/{OSTIA}"
    request = CubeRequest.parse(variables=["sst"], datetime="2006-04-01/2007-03-31", chunks={"time": 4})
    ds = open_opendap(url, request, entry_id="test/ostia")
    assert list(ds.data_vars) == ["sst"]
    assert ds["sst"].chunks == ((4, 4, 4), (18,), (432,))
    before = len(opendap_server.requests)
    block = ds["sst"].isel(time=slice(4, 8)).values  # one chunk: one request
    assert block.shape == (4, 18, 432)
    (read,) = data_reads(opendap_server.requests[before:], "sst")
    assert slab(read) == [(4, 7), (0, 17), (0, 431)]


def test_a_csw_opendap_link_pushes_the_subset_too(opendap_server: OpendapServer) -> None:
    url = f"{opendap_server.url}/{OSTIA}"
    link = Link(url, protocol="OPeNDAP:OPeNDAP", name="sst")
    ds = open_links([link], CubeRequest.parse(bbox=BBOX), entry_id="csw/ostia", provider="csw", timeout=5)
    assert ds.attrs["gaia:link"] == url
    before = len(opendap_server.requests)
    assert np.isfinite(ds["sst"].values).all()
    (read,) = data_reads(opendap_server.requests[before:], "sst")
    assert slab(read) == [(0, 53), (5, 13), (192, 204)]  # longitudes -20..-10 of -180..179.2 by 0.83°


def test_unknown_variable_and_empty_subsets_are_typed_errors(
    opendap_catalog: gl.Catalog, opendap_server: OpendapServer
) -> None:
    entry = opendap_catalog["odatis-opendap/ostia-sst"]
    before = len(opendap_server.requests)
    with pytest.raises(InvalidQuery, match=r"\['chlorophyll'\] not in odatis-opendap/ostia-sst; available: \['sst'\]"):
        entry.to_xarray(variables=["chlorophyll"])
    with pytest.raises(EmptyResult, match="bbox"):
        entry.to_xarray(bbox=(0, 40, 10, 50))  # OSTIA here covers 5°S-5°N
    with pytest.raises(EmptyResult, match="datetime"):
        entry.to_xarray(datetime="1990")
    assert not data_reads(opendap_server.requests[before:], "sst")  # refused before any data was asked for


def test_missing_dataset_names_the_url(opendap_server: OpendapServer) -> None:
    url = f"{opendap_server.url}/odatis/ostia-sst/nowhere.nc"
    with pytest.raises(AssetError, match=re.escape(url)) as caught:
        open_opendap(url, entry_id="test/nowhere")
    assert caught.value.href == url and caught.value.entry_id == "test/nowhere"


def test_server_down_mid_compute_names_the_url(lake_dir: Path) -> None:
    server = OpendapServer(lake_dir).start()
    url = f"{server.url}/{OSTIA}"
    try:
        ds = open_opendap(url, CubeRequest.parse(bbox=BBOX), entry_id="test/ostia", timeout=5)
    finally:
        server.stop()
    started = time.monotonic()
    with pytest.raises(AssetError, match=re.escape(url)) as caught:
        ds["sst"].mean().compute()
    assert "variable 'sst': cannot read the block [0:53][0:8][0:12] of the selection" in str(caught.value)
    assert caught.value.href == url
    assert time.monotonic() - started < 15  # one retry, not xarray's minute of backoff


def test_server_that_never_answers_times_out() -> None:
    silent = start_fault_server(Fault("sleep", delay=60))
    try:
        url = f"{silent.url}/odatis/ostia-sst/ostia-sst.nc"
        started = time.monotonic()
        with pytest.raises(AssetError, match=re.escape(url)):
            open_opendap(url, entry_id="test/silent", timeout=2)
        assert time.monotonic() - started < 15
    finally:
        silent.stop()


@pytest.mark.slow
def test_workers_read_over_opendap_and_report_a_dead_server(lake_dir: Path) -> None:
    """On a cluster the reads run in worker processes: they reopen the dataset (timeouts set there too), and the
    AssetError naming the URL travels back to the client."""
    from gaia_lab.cluster import cluster

    server = OpendapServer(lake_dir).start()
    url = f"{server.url}/{OSTIA}"
    try:
        ds = open_opendap(url, CubeRequest.parse(bbox=BBOX, chunks={"time": 18}), entry_id="test/ostia", timeout=5)
        unread = open_opendap(url, CubeRequest.parse(bbox=(-160, -2, -150, 2)), entry_id="test/ostia", timeout=5)
        with cluster(n_workers=1, adaptive=None, worker_cores=1) as client:
            mean = float(client.compute(ds["sst"].mean()).result())
            with xr.open_dataset(lake_dir / OSTIA) as source:
                expected = source["sst"].sel(latitude=ds.latitude, longitude=ds.longitude)
                assert 290 < mean == pytest.approx(float(expected.mean()), rel=1e-6)
            server.stop()
            with pytest.raises(AssetError, match=re.escape(url)) as caught:
                client.compute(unread["sst"].max()).result()
            assert caught.value.entry_id == "test/ostia"
    finally:
        server.stop()


def test_an_unreadable_dataset_names_the_url(lake_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "truncated.nc").write_bytes((lake_dir / OSTIA).read_bytes()[:5000])
    with OpendapServer(tmp_path) as server:
        url = f"{server.url}/truncated.nc"
        with pytest.raises(AssetError, match=re.escape(url) + ".*cannot open as an OPeNDAP dataset"):
            open_opendap(url, entry_id="test/truncated", timeout=5)
