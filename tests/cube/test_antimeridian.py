"""Boxes whose west edge is greater than their east edge cross the antimeridian, in cubes as in searches."""

from __future__ import annotations

import dask
import numpy as np
import pytest
import xarray as xr

from gaia_lab.errors import InvalidQuery

PACIFIC = (179.5, -4.0, -179.5, 4.0)


def test_a_zarr_cube_across_the_antimeridian_is_the_strip_asked_for(lake_catalog, lake_dir):
    cube = lake_catalog["odatis/ostia-sst"].to_xarray(bbox=PACIFIC)
    longitudes = cube["longitude"].values
    # Contiguous, about one degree wide, past 180 on the eastern side (as a 0..360 grid has it), not the globe.
    assert np.all(np.diff(longitudes) > 0)
    assert longitudes.min() > 179.0 and longitudes.max() < 181.0
    source = xr.open_zarr(lake_dir / "odatis" / "ostia-sst" / "ostia-sst.zarr")
    wrapped = source.sst.sel(
        longitude=[lon - 360 if lon >= 180 else lon for lon in longitudes],
        latitude=cube["latitude"].values,
        method="nearest",
        tolerance=1e-3,  # float32 longitudes
    )
    assert cube.sizes["longitude"] >= 1 and cube.sizes["latitude"] >= 1
    with dask.config.set(scheduler="sync"):
        np.testing.assert_array_equal(cube.sst.values, wrapped.values)


def test_a_raster_cube_across_the_antimeridian_needs_a_projected_grid(lake_catalog):
    entry = lake_catalog["odatis/ostia-sst-monthly"]
    with pytest.raises(InvalidQuery, match="antimeridian") as info:
        entry.to_xarray(bbox=PACIFIC, datetime="2008-01")
    assert info.value.parameter == "bbox"
    cube = entry.to_xarray(bbox=PACIFIC, datetime="2008-01", crs="EPSG:3832", resolution=5000)
    width = cube.odc.geobox.extent.boundingbox.span_x
    assert 100_000 < width < 130_000  # one degree of longitude at the equator, in metres
    with dask.config.set(scheduler="sync"):
        assert cube.sst.notnull().any()


def test_west_greater_than_east_is_never_swapped(lake_catalog):
    # (10, 40, 5, 50) is the 355-degree box from 10 E eastwards to 5 E, as search reads it, not the box 5-10 E.
    with pytest.raises(InvalidQuery, match="swap west and east") as info:
        lake_catalog["theia/land-mask-europe"].to_xarray(bbox=(10, 40, 5, 50), crs="EPSG:4326", resolution=0.1)
    assert info.value.parameter == "bbox"
    inside = {e.id for e in lake_catalog.search(bbox=(10, 40, 5, 50), limit=1000)}
    narrow = {e.id for e in lake_catalog.search(bbox=(5, 40, 10, 50), limit=1000)}
    assert "theia/land-mask-europe" in inside and narrow <= inside
