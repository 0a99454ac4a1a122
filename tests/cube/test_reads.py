"""gaia_lab.cube.reads: GAIA Lab's reads give the pixels odc-loader's own reads give, by a shorter path."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

import dask
import numpy as np
import odc.stac
import pystac
import pytest
from odc.loader import _builder as odc_builder
from rasterio.env import GDALDataFinder, PROJDataFinder

from gaia_lab.cube import reads, stac_load
from gaia_lab.stac_item import as_items
from tests.cube.test_stac_load import lake_items


def tiles_one_per_day(lake_dir) -> list[pystac.Item]:
    """The four land-mask tiles of Europe (four grids), each on its own day: every slice of the cube then gets
    one source that covers part of it, or none."""
    items = lake_items(lake_dir, "theia", "land-mask-europe")
    start = datetime(2020, 1, 1)
    for day, item in enumerate(sorted(items, key=lambda i: i.id)):
        item.datetime = start + timedelta(days=day)
    return items


@pytest.mark.parametrize("chunks", [{"time": 2, "x": 2048, "y": 2048}, {"time": 1, "x": 96, "y": 96}])
def test_partial_single_sources_read_straight_into_the_chunk(lake_dir, chunks, monkeypatch):
    items = tiles_one_per_day(lake_dir)
    direct_reads = []
    read_into_chunk = reads._fill_nd_slice

    def counting(srcs, dst_gbox, cfg, dst, ydim=0, selection=None):
        if cfg.fuser_fqn == reads.COPY_FUSER and len(srcs) == 1:
            direct_reads.append(dst.shape)
        return read_into_chunk(srcs, dst_gbox, cfg, dst, ydim=ydim, selection=selection)

    monkeypatch.setattr(odc_builder, "_fill_nd_slice", counting)
    ours = stac_load.load(as_items(items), ["land"], chunks=chunks, driver=reads.HrefNamingDriver())
    reference = odc.stac.load(items, ["land"], groupby="time", chunks=chunks)
    assert ours.odc.geobox == reference.odc.geobox
    with dask.config.set(scheduler="sync"):
        np.testing.assert_array_equal(ours["land"].values, reference["land"].values)
    assert direct_reads, "no slice took the single-source path"
    filled = ours["land"].values
    # Each day holds one tile: the rest of the cube is nodata, written by the single-source path itself.
    nodata = reference["land"].attrs.get("nodata", 0)
    for day in range(filled.shape[0]):
        assert 0 < np.count_nonzero(filled[day] != nodata) < filled[day].size


def test_reprojection_geometry_is_reused_across_reads(lake_dir):
    items = lake_items(lake_dir, "odatis", "ostia-sst-monthly")
    reads._reproject_infos.clear()
    cube = stac_load.load(as_items(items), ["sst"], chunks={"time": 4}, driver=reads.HrefNamingDriver())
    with dask.config.set(scheduler="threads"):
        cube["sst"].isel(time=slice(0, 12)).values  # noqa: B018
    # Twelve files on one grid and one tile: the geometry is computed once.
    assert len(reads._reproject_infos) == 1


def test_pasting_sources_skip_odc_loader_s_nested_environment(lake_dir, monkeypatch):
    """Same-grid reads go straight to ``_do_read``; a warp keeps odc-loader's path (its nested Env); both give
    odc-stac's pixels."""
    band = "sst"
    items = lake_items(lake_dir, "odatis", "ostia-sst-monthly")[:4]
    nested = []
    upstream_env = reads.odc_rio.rio_env

    def counting_env(*args, **kwargs):
        nested.append(kwargs)
        return upstream_env(*args, **kwargs)

    monkeypatch.setattr(reads.odc_rio, "rio_env", counting_env)
    for query in ({}, {"crs": "EPSG:3857", "resolution": 50_000}):
        nested.clear()
        ours = stac_load.load(as_items(items), [band], chunks={"time": 2}, driver=reads.HrefNamingDriver(), **query)
        reference = odc.stac.load(items, [band], groupby="time", chunks={"time": 2}, **query)
        with dask.config.set(scheduler="sync"):
            np.testing.assert_array_equal(ours[band].values, reference[band].values)
        per_read = [kw for kw in nested if kw == {"VSI_CACHE": False}]
        if query:
            assert len(per_read) == 2 * len(items), "warped reads left odc-loader's path"
        else:
            # only odc-stac's own reads (the reference) entered it, once per file
            assert len(per_read) == len(items)


def test_a_damaged_file_read_leniently_is_left_out_with_a_warning(tmp_path, caplog):
    import rasterio
    from odc.geo.geobox import GeoBox
    from odc.loader.types import RasterLoadParams, RasterSource

    path = tmp_path / "damaged.tif"
    profile = {"driver": "GTiff", "width": 64, "height": 64, "count": 1, "dtype": "float32", "crs": "EPSG:4326"}
    profile |= {"transform": rasterio.transform.from_origin(0, 1, 1 / 64, 1 / 64), "tiled": True}
    profile |= {"blockxsize": 16, "blockysize": 16, "compress": "deflate"}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.random.default_rng(0).random((1, 64, 64), dtype="float32"))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with rasterio.open(path) as src:
        geobox = GeoBox((64, 64), src.transform, src.crs)
    reader = reads.HrefNamingReader(RasterSource(str(path), band=1), None)
    out = np.full((64, 64), -1, "float32")
    lenient = RasterLoadParams(dtype="float32", fill_value=float("nan"), fail_on_error=False)
    _roi, pixels = reader.read(lenient, geobox, dst=out)
    assert pixels.size == 0
    assert "Ignoring read failure" in caplog.text
    with pytest.raises(reads.AssetError, match=r"damaged\.tif"):
        reader.read(RasterLoadParams(dtype="float32", fill_value=float("nan")), geobox, dst=out)


def test_odc_stac_used_directly_keeps_its_own_reads(lake_dir):
    items = lake_items(lake_dir, "odatis", "ostia-sst-monthly")
    reads._reproject_infos.clear()
    cube = odc.stac.load(items, ["sst"], groupby="time", chunks={"time": 4})
    assert cube["sst"].isel(time=slice(0, 4)).compute().notnull().any()
    assert not reads._reproject_infos


def test_gdal_data_paths_are_pinned_to_rasterio_s_own(monkeypatch):
    for name in ("GDAL_DATA", "PROJ_DATA", "PROJ_LIB"):
        monkeypatch.delenv(name, raising=False)
    wheel_gdal_data, wheel_proj_data = GDALDataFinder().search_wheel(), PROJDataFinder().search_wheel()
    assert wheel_gdal_data and wheel_proj_data, "rasterio's wheel ships its GDAL and PROJ data"
    reads.pin_gdal_data_paths()
    assert os.environ["GDAL_DATA"] == wheel_gdal_data
    assert os.environ["PROJ_DATA"] == wheel_proj_data


def test_gdal_data_paths_set_by_the_user_win(monkeypatch, tmp_path):
    monkeypatch.setenv("GDAL_DATA", str(tmp_path))
    monkeypatch.setenv("PROJ_LIB", str(tmp_path))
    monkeypatch.delenv("PROJ_DATA", raising=False)
    reads.pin_gdal_data_paths()
    assert os.environ["GDAL_DATA"] == str(tmp_path)
    assert "PROJ_DATA" not in os.environ
