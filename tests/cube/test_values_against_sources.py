"""Subset and reprojected cubes equal direct reads of the original source files (netCDF, HDF5)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import rasterio.warp
import xarray as xr
from affine import Affine

from gaia_lab.datalake import sources


@pytest.fixture(scope="module")
def ostia_source():
    raw = xr.open_dataset(sources.iris("ostia_monthly.nc").path)
    return raw["surface_temperature"]


def test_zarr_subset_equals_the_netcdf_source(lake_catalog, ostia_source):
    ds = lake_catalog["odatis/ostia-sst"].to_xarray(bbox=(-60, -5, -20, 5), datetime="2007")
    assert ds.sizes["time"] == 12
    lon = ds["longitude"].values
    assert lon.min() >= -60 - 0.5 and lon.max() <= -20 + 0.5
    expected = ostia_source.sel(time=slice("2007-01-01", "2007-12-31")).sel(
        latitude=ds["latitude"].values, longitude=lon % 360, method="nearest", tolerance=1e-3
    )
    np.testing.assert_array_equal(ds["sst"].values, expected.values)


def test_cog_subset_equals_the_netcdf_source(lake_catalog, ostia_source):
    ds = lake_catalog["odatis/ostia-sst-monthly"].to_xarray(bbox=(-30, -4, 0, 4), datetime="2008-03/2008-05")
    assert ds.sizes["time"] == 3
    lat, lon = ds["latitude"].values, ds["longitude"].values
    source = ostia_source.sel(time=slice("2008-03-01", "2008-05-31"))
    expected = source.sel(latitude=lat, longitude=(lon % 360), method="nearest", tolerance=1e-3)
    np.testing.assert_allclose(ds["sst"].values, expected.values, rtol=0, atol=0, equal_nan=True)


def test_reprojected_dem_equals_a_gdal_warp_of_the_hdf5_source(lake_catalog):
    ds = lake_catalog["formater/elevation-5min"].to_xarray(bbox=(-5, 42, 9, 51), crs="EPSG:32631", resolution=10_000)
    assert ds.rio.crs.to_epsg() == 32631
    assert set(ds["elevation"].dims) >= {"y", "x"}
    got = ds["elevation"].isel(time=0).values
    with h5py.File(sources.pvlib("Altitude.h5").path) as handle:
        raw = handle["Altitude"][...]
    metres = np.where(raw == 255, np.nan, raw.astype("float32") * 28 - 450).astype("float32")
    destination = np.full(got.shape, np.nan, dtype="float32")
    transform = ds.odc.geobox.transform
    rasterio.warp.reproject(
        metres,
        destination,
        src_transform=Affine(1 / 12, 0, -180, 0, -1 / 12, 90),
        src_crs="EPSG:4326",
        dst_transform=transform,
        dst_crs="EPSG:32631",
        resampling=rasterio.warp.Resampling.nearest,
        src_nodata=np.nan,
        dst_nodata=np.nan,
    )
    valid = ~np.isnan(destination)
    assert valid.sum() > 1000
    agreement = np.mean(got[valid] == destination[valid])
    assert agreement > 0.99, agreement  # nearest-neighbour ties at cell edges may pick the other cell


def test_station_time_series_equal_pvlib_reads(lake_catalog):
    from pvlib.iotools import read_tmy3

    ds = lake_catalog["aeris/tmy3-stations"].to_xarray(variables=["ghi", "temp_air"])
    data, meta = read_tmy3(str(sources.pvlib("723170TYA.CSV").path), coerce_year=1990, map_variables=True)
    series = ds.sel(station=str(meta["USAF"]))
    index = data.index.tz_convert("UTC").tz_localize(None)
    got = series["ghi"].sel(time=index).values
    np.testing.assert_array_equal(got, data["ghi"].to_numpy(dtype="float32"))
    assert set(ds.data_vars) == {"ghi", "temp_air"}


def test_land_mask_agrees_with_the_package(lake_catalog):
    from global_land_mask import globe

    ds = lake_catalog["theia/land-mask-europe"].to_xarray(bbox=(-6, 42, 9, 51)).isel(time=0)
    lat = ds["latitude"].values[::40]
    lon = ds["longitude"].values[::40]
    got = ds["land"].sel(latitude=lat, longitude=lon).values
    grid_lat, grid_lon = np.meshgrid(lat, lon, indexing="ij")
    expected = globe.is_land(grid_lat, grid_lon).astype("float32")
    assert np.mean(got == expected) > 0.99
    assert float(ds["land"].sel(latitude=48.85, longitude=2.35, method="nearest")) == 1  # Paris
    assert float(ds["land"].sel(latitude=45.0, longitude=-5.0, method="nearest")) == 0  # Bay of Biscay
