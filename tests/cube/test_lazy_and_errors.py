"""Opening reads metadata only; damaged files fail at compute time with the href named; bad input is typed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import dask
import pytest

import gaia_lab as gl
from gaia_lab.errors import AssetError, EmptyResult, EntryNotFound, InvalidQuery


def data_chunks(store: Path, variable: str) -> list[Path]:
    """The chunk files of one Zarr variable (v2 '0.0.0' or v3 'c/0/0/0'), not its metadata."""
    return [p for p in (store / variable).rglob("*") if p.is_file() and not p.name.startswith((".", "zarr.json"))]


@pytest.fixture
def copy_catalog(lake_copy):
    return gl.open_catalog(lake_copy / "federation.yaml")


def test_opening_a_zarr_cube_reads_no_chunk(copy_catalog, lake_copy):
    store = lake_copy / "odatis" / "ostia-sst" / "ostia-sst.zarr"
    chunks = data_chunks(store, "sst")
    assert chunks
    # A missing chunk is legitimately read as the fill value in Zarr, so damage the chunks instead of deleting
    # them, before opening: the cube must open from metadata alone, and fail only when pixels are asked for.
    for chunk in chunks:
        chunk.write_bytes(b"not a chunk")
    ds = copy_catalog["odatis/ostia-sst"].to_xarray()
    assert ds["sst"].shape == (54, 18, 432)
    assert ds["sst"].dtype == "float32"
    with pytest.raises(AssetError) as info:
        ds["sst"].isel(time=0).compute()
    assert "ostia-sst.zarr" in info.value.href
    assert "sst" in str(info.value)


def test_opening_a_cog_cube_reads_no_pixel(copy_catalog, lake_copy):
    for tif in (lake_copy / "odatis" / "ostia-sst-monthly").rglob("*.tif"):
        tif.unlink()
    ds = copy_catalog["odatis/ostia-sst-monthly"].to_xarray(chunks={"time": 1})
    assert ds["sst"].sizes["time"] == 54
    with pytest.raises(AssetError) as info:
        ds["sst"].isel(time=3).compute()
    assert info.value.href.endswith("sst.tif")
    assert "ostia-sst-2006-07" in info.value.href


def test_corrupt_zarr_chunk_names_the_store_at_compute_time(copy_catalog, lake_copy):
    store = lake_copy / "climeri" / "sres-a1b-tas" / "sres-a1b-tas.zarr"
    ds = copy_catalog["climeri/sres-a1b-tas"].to_xarray()
    first = sorted(data_chunks(store, "tas"))[0]
    first.write_bytes(b"\x00garbage, not a compressed chunk" * 3)
    with pytest.raises(AssetError, match="cannot read or decode Zarr chunk") as info:
        ds["tas"].mean().compute()
    assert "sres-a1b-tas.zarr" in info.value.href


def test_truncated_cog_names_the_file_at_compute_time(copy_catalog, lake_copy):
    tif = next((lake_copy / "formater").rglob("elevation.tif"))
    ds = copy_catalog["formater/elevation-5min"].to_xarray()
    data = tif.read_bytes()
    tif.write_bytes(data[: len(data) // 3])
    with pytest.raises(AssetError) as info:
        ds["elevation"].compute()
    assert info.value.href.endswith("elevation.tif")


def test_errors_cross_dask_workers_intact(copy_catalog, lake_copy):
    distributed = pytest.importorskip("distributed")
    ds = copy_catalog["odatis/ostia-sst"].to_xarray()
    for chunk in data_chunks(lake_copy / "odatis" / "ostia-sst" / "ostia-sst.zarr", "sst"):
        chunk.write_bytes(b"not a chunk")
    with (
        distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as lc,
        distributed.Client(lc),
        pytest.raises(AssetError) as info,
    ):
        ds["sst"].isel(time=0).compute()
    assert "ostia-sst.zarr" in info.value.href


def test_a_truncated_cog_read_on_a_worker_process_reaches_the_client_as_asset_error(copy_catalog, lake_copy):
    # GDAL's errors (rasterio's CPLE_*) do not unpickle: an AssetError raised with one as its context or cause
    # would reach the client as a bare Exception once dask's worker has pickled it with its traceback chain.
    distributed = pytest.importorskip("distributed")
    tif = next((lake_copy / "formater").rglob("elevation.tif"))
    ds = copy_catalog["formater/elevation-5min"].to_xarray()
    data = tif.read_bytes()
    tif.write_bytes(data[: len(data) // 3])
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address="127.0.0.1:0"
        ) as lc,
        distributed.Client(lc),
        pytest.raises(AssetError) as info,
    ):
        ds["elevation"].compute()
    assert info.value.href.endswith("elevation.tif")
    assert str(tif) in str(info.value) or "elevation.tif" in str(info.value)
    assert "cannot read" in info.value.reason


def test_unknown_ids_and_queries_outside_the_data(lake_catalog):
    with pytest.raises(EntryNotFound, match="no collection 'nope'"):
        lake_catalog["odatis/nope"]
    with pytest.raises(EntryNotFound, match="no item"):
        lake_catalog["odatis/ostia-sst-monthly/ostia-sst-1999-01"]
    with pytest.raises(EmptyResult, match="bbox") as info:  # OSTIA covers the tropics only
        lake_catalog["odatis/ostia-sst"].to_xarray(bbox=(0, 40, 10, 50))
    assert info.value.entry_id == "odatis/ostia-sst"
    with pytest.raises(EmptyResult, match="bbox"):
        lake_catalog["odatis/ostia-sst-monthly"].to_xarray(bbox=(0, 40, 10, 50))
    with pytest.raises(EmptyResult, match="datetime"):
        lake_catalog["odatis/ostia-sst"].to_xarray(datetime="1990")
    with pytest.raises(EmptyResult, match="datetime"):
        lake_catalog["odatis/ostia-sst-monthly"].to_xarray(datetime="1990")
    with pytest.raises(InvalidQuery, match="available") as missing:
        lake_catalog["odatis/ostia-sst"].to_xarray(variables=["chlorophyll"])
    assert missing.value.parameter == "variables"
    with pytest.raises(InvalidQuery, match="resolution"):
        lake_catalog["odatis/ostia-sst"].to_xarray(resolution=-5)
    with pytest.raises(InvalidQuery, match="bbox"):
        lake_catalog["odatis/ostia-sst"].to_xarray(bbox=(10, 0, 20))


def _item_json(lake: Path) -> Path:
    return next((lake / "theia" / "land-mask-europe").rglob("land-mask-*.json"))


def test_unsupported_media_type_names_the_asset(lake_copy):
    path = _item_json(lake_copy)
    item = json.loads(path.read_text())
    netcdf = lake_copy / "sample.nc"
    shutil.copy(path, netcdf)  # any file: the media type alone must be refused before a read
    item["assets"]["land"].update({"type": "application/x-netcdf", "href": str(netcdf)})
    path.write_text(json.dumps(item))
    with pytest.raises(AssetError, match="unsupported media type") as info:
        gl.open_datacube(str(path))
    assert info.value.href == str(netcdf)


def test_items_without_a_grid_need_an_output_grid_and_open_from_their_footprint(lake_copy):
    path = _item_json(lake_copy)
    item = json.loads(path.read_text())
    for key in [k for k in item["properties"] if k.startswith("proj:") and k != "proj:code"]:
        del item["properties"][key]
    path.write_text(json.dumps(item))
    with pytest.raises(InvalidQuery, match="projection metadata") as info:
        gl.open_datacube(str(path))
    assert info.value.parameter == "crs"
    with pytest.raises(InvalidQuery, match="pass crs= and resolution=") as info:
        gl.open_datacube(str(path), crs="EPSG:3035")
    assert info.value.parameter == "resolution"
    # Damaged before opening: placing the item by its footprint must not read the file.
    tif = next(path.parent.glob("*.tif"))
    tif.write_bytes(b"not a GeoTIFF")
    west, south, east, north = item["bbox"]
    cube = gl.open_datacube(str(path), crs="EPSG:4326", resolution=0.25)
    assert cube["land"].sizes["longitude"] == round((east - west) / 0.25)
    assert cube["land"].sizes["latitude"] == round((north - south) / 0.25)
    assert float(cube.longitude.min()) == pytest.approx(west + 0.125)
    with pytest.raises(AssetError) as failure:
        cube["land"].compute()
    assert failure.value.href == str(tif)


def test_open_datacube_accepts_ids_entries_and_hrefs(lake_catalog, lake_dir):
    by_id = gl.open_datacube("climeri/sres-e1-tas", catalog=lake_catalog, datetime="2000/2001")
    by_entry = gl.open_datacube(lake_catalog["climeri/sres-e1-tas"], datetime="2000/2001")
    store = lake_dir / "climeri" / "sres-e1-tas" / "sres-e1-tas.zarr"
    by_href = gl.open_datacube(str(store), datetime="2000/2001")
    with dask.config.set(scheduler="synchronous"):
        assert float(by_id["tas"].mean()) == float(by_entry["tas"].mean()) == float(by_href["tas"].mean())
    assert by_id.sizes["time"] == 2  # one value a year, on a 360-day calendar
    with pytest.raises(InvalidQuery, match="source"):
        gl.open_datacube("")
