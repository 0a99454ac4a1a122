"""The user's results catalogue (no platform): every kind of result, once added, reopens as an entry of the
catalogue ``gl.open_catalog()`` builds: cubes with ``to_xarray()``, tables (GeoParquet, CSV) with ``to_geopandas()``,
NetCDF time series with ``to_xarray()``; their values are the files' own."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import xarray as xr

import gaia_lab as gl
from gaia_lab.catalog.user_results import provider_config
from gaia_lab.errors import EntryNotOpenable, InvalidQuery
from gaia_lab.ogc_processes.user_catalog import add_result, entry_id, remove_result
from gaia_lab.processing import PROCESSES, ProcessContext, run


def _inputs(process_id: str, **changes: Any) -> dict[str, Any]:
    return {**copy.deepcopy(PROCESSES[process_id].example["inputs"]), **changes}


RUNS = {
    "ts-csv": ("time-series", _inputs("time-series", format="csv")),
    "ts-netcdf": ("time-series", _inputs("time-series", format="netcdf")),
    "zones-csv": ("zonal-statistics", _inputs("zonal-statistics", format="csv")),
    "zones-parquet": ("zonal-statistics", _inputs("zonal-statistics", format="geoparquet")),
    "subset-zarr": ("subset", {"entry": "odatis/ostia-sst", "bbox": [-20, -5, 20, 5], "datetime": "2008"}),
}


@pytest.fixture(scope="module")
def results(lake_catalog, tmp_path_factory) -> tuple[Path, dict[str, Path]]:
    """Each run's output file, added to one user catalogue (as a job's task adds it)."""
    root = tmp_path_factory.mktemp("results")
    files = {}
    for job_id, (process_id, inputs) in RUNS.items():
        result = run(process_id, inputs, ProcessContext(output_dir=root / job_id, catalog=lake_catalog, item_id=job_id))
        add_result(root, result.item, root / job_id)
        (output,) = result.files
        files[job_id] = output.path
    return root, files


def _catalog(root: Path) -> gl.Catalog:
    config = provider_config(root)
    assert config is not None
    return gl.open_catalog({"providers": [config]})


def test_a_time_series_csv_reopens_as_points_with_its_values(results):
    root, files = results
    table = _catalog(root)[entry_id("ts-csv")].to_geopandas()
    written = pd.read_csv(files["ts-csv"])
    assert isinstance(table, gpd.GeoDataFrame) and table.crs.to_epsg() == 4326
    assert list(table.columns) == [*written.columns, "geometry"] and len(table) == len(written) > 0
    np.testing.assert_allclose(table["sst"], written["sst"])
    np.testing.assert_allclose(table.geometry.x, written["longitude"])
    assert pd.api.types.is_datetime64_any_dtype(table["time"])
    assert set(table["station"]) == {"ATL-0W", "PAC-140W"}
    # a bbox keeps the points inside it; variables keep those columns (and the coordinates)
    west = _catalog(root)[entry_id("ts-csv")].to_geopandas(bbox=(-180, -10, -100, 10), variables=["station", "sst"])
    assert set(west["station"]) == {"PAC-140W"} and list(west.columns) == ["station", "longitude", "latitude",
                                                                          "sst", "geometry"]  # fmt: skip


def test_a_time_series_netcdf_reopens_as_a_dataset(results):
    root, files = results
    with xr.open_dataset(files["ts-netcdf"]) as opened:
        written = opened.load()
    ds = _catalog(root)[entry_id("ts-netcdf")].to_xarray()
    assert ds.attrs["featureType"] == "timeSeries" and dict(ds.sizes) == dict(written.sizes)
    np.testing.assert_allclose(ds["sst"].values, written["sst"].values, equal_nan=True)
    assert list(ds["station"].values) == list(written["station"].values)
    # gl.open_datacube on the result's item opens it the same way
    again = gl.open_datacube(str(files["ts-netcdf"].parent / "item.json"))
    np.testing.assert_allclose(again["sst"].values, ds["sst"].values, equal_nan=True)


def test_zonal_statistics_reopen_as_tables(results):
    root, files = results
    catalog = _catalog(root)
    csv = catalog[entry_id("zones-csv")].to_geopandas()
    written = pd.read_csv(files["zones-csv"])
    # zones without coordinates in the CSV: a plain table
    assert type(csv) is pd.DataFrame and list(csv.columns) == list(written.columns) and len(csv) == 12
    np.testing.assert_allclose(csv["sst_mean"], written["sst_mean"])
    parquet = catalog[entry_id("zones-parquet")].to_geopandas()
    assert isinstance(parquet, gpd.GeoDataFrame)
    np.testing.assert_allclose(parquet["sst_mean"], csv["sst_mean"])
    with pytest.raises(InvalidQuery, match="no coordinates"):
        catalog[entry_id("zones-csv")].to_geopandas(bbox=(-10, -5, 10, 5))


def test_a_csv_result_asked_as_a_cube_says_how_to_open_it(results):
    root, _ = results
    with pytest.raises(EntryNotOpenable, match=r"CSV table.*to_geopandas"):
        _catalog(root)[entry_id("zones-csv")].to_xarray()


def test_a_zarr_result_reopens_as_a_cube_and_a_removed_one_is_gone(results):
    root, files = results
    catalog = _catalog(root)
    cube = catalog[entry_id("subset-zarr")].to_xarray()
    written = xr.open_zarr(files["subset-zarr"])
    np.testing.assert_allclose(cube["sst"].values, written["sst"].values, equal_nan=True)
    assert remove_result(root, "subset-zarr")
    assert entry_id("subset-zarr") not in {e.id for e in _catalog(root).search(limit=100)}
