"""Every demo entry opens as a lazy cube whose values equal a direct read of the files behind it."""

from __future__ import annotations

import dask.array
import numpy as np
import rasterio
import xarray as xr

import gaia_lab as gl


def entries(catalog):
    for provider in catalog.providers:
        if provider.type == "stac":
            yield from provider.search(gl.catalog.Query())


def test_every_entry_opens_lazily_with_crs_and_provenance(lake_catalog):
    opened = {}
    for entry in entries(lake_catalog):
        ds = entry.to_xarray()
        assert ds.data_vars, entry.id
        for name, variable in ds.data_vars.items():
            assert isinstance(variable.data, dask.array.Array), f"{entry.id}:{name} is not lazy"
        assert ds.attrs["gaia:entry"] == entry.id
        assert ds.attrs["gaia:provider"] == entry.provider
        assert ds.attrs["gaia:assets"], entry.id
        if {"x", "y"} <= set(ds.dims) or {"latitude", "longitude"} <= set(ds.dims):
            assert ds.rio.crs is not None, entry.id
        opened[entry.id] = ds
    hubs = {lake_catalog[e].hub for e in opened}
    assert {"ocean", "atmosphere", "land", "solid-earth", "climate"} <= hubs, hubs


def _cog_entries(catalog):
    return [e for e in entries(catalog) if "cog" in e.formats and "zarr" not in e.formats]


def _zarr_entries(catalog):
    """Entries whose asset is a Zarr store (virtual stores over NetCDF files: tests/datalake/test_virtual_lake.py)."""
    return [
        e
        for e in entries(catalog)
        if "zarr" in e.formats and not any("virtual" in (a.roles or ()) for a in e.source.assets.values())
    ]


def test_cog_cubes_equal_rasterio_reads_of_every_item(lake_catalog):
    checked = 0
    for entry in _cog_entries(lake_catalog):
        ds = entry.to_xarray()
        items = list(entry.source.get_items(recursive=True))
        times = ds["time"].values
        for item in items[:3] + items[-1:]:
            for band, asset in item.assets.items():
                if band not in ds.data_vars:
                    continue
                with rasterio.open(asset.get_absolute_href()) as src:
                    expected = src.read(1, masked=True).astype("float64").filled(np.nan)
                    nodata = src.nodata
                index = int(np.argmin(np.abs(times - np.datetime64(item.datetime.replace(tzinfo=None), "ns"))))
                got = ds[band].isel(time=index).values.astype("float64")
                if nodata is not None and not np.issubdtype(ds[band].dtype, np.floating):
                    got = np.where(got == nodata, np.nan, got)
                if got.shape != expected.shape:  # several tiles mosaicked: compare the tile's window
                    with rasterio.open(asset.get_absolute_href()) as src:
                        bounds = src.bounds
                    sub = ds[band].isel(time=index).rio.clip_box(*bounds)
                    got = sub.values.astype("float64")[: expected.shape[0], : expected.shape[1]]
                np.testing.assert_array_equal(got, expected, err_msg=f"{entry.id} {item.id} {band}")
                checked += 1
    assert checked >= 4


def test_zarr_cubes_equal_a_plain_xarray_read(lake_catalog):
    checked = 0
    for entry in _zarr_entries(lake_catalog):
        ds = entry.to_xarray()
        href = ds.attrs["gaia:assets"][0]
        direct = xr.open_zarr(href)
        for name in ds.data_vars:
            xr.testing.assert_identical(
                ds[name].drop_vars("spatial_ref", errors="ignore").load(),
                direct[name].drop_vars("spatial_ref", errors="ignore").load(),
            )
            checked += 1
    assert checked >= 2


def test_zarr_store_formats_v2_and_v3_both_open(lake_catalog):
    formats = set()
    for entry in _zarr_entries(lake_catalog):
        asset = next(a for a in entry.source.assets.values() if "zarr" in (a.media_type or ""))
        formats.add(asset.extra_fields.get("xarray:open_kwargs", {}).get("zarr_format"))
    assert {2, 3} <= formats
