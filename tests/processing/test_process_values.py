"""Each process on the demo lake's data, compared with the same computation written directly with xarray, and its
result reopened as a cube from its STAC item (directly, and from a static user catalogue)."""

from __future__ import annotations

import copy
import json
import re

import numpy as np
import pandas as pd
import pystac
import pytest
import rioxarray  # noqa: F401
import shapely
import xarray as xr
from pyproj import Transformer
from pystac.validation import validate_dict

import gaia_lab as gl
from gaia_lab.processing import run

SST = "odatis/ostia-sst"


def _advance(message: str) -> bool:
    """A report of the computation's advance: ``<label>: done/total tasks`` (or ``chunks`` written, on a cluster)."""
    return re.search(r"\d+/\d+ (tasks|chunks)$", message) is not None


def _reopen(result):
    return gl.open_datacube(str(result.item_path))


def _item_checks(result, process_id):
    # STAC core (pystac's bundled schema, offline; extension schemas cannot be fetched here)
    validate_dict(copy.deepcopy(result.item), stac_object_type=pystac.STACObjectType.ITEM, extensions=[])
    item = pystac.Item.from_dict(result.item)
    assert item.properties["gaia:process"] == process_id
    assert json.loads(result.item_path.read_text())["id"] == item.id
    for output in result.files:
        asset = item.assets[output.key]
        assert asset.href == str(output.path) and asset.media_type == output.media_type
        assert output.path.exists()
    west, south, east, north = item.bbox
    assert -180 <= west < east <= 180 and -90 <= south < north <= 90
    return item


# ---- subset ---------------------------------------------------------------------------------------------------


def test_subset_to_zarr_equals_the_entry_cut_with_xarray(context, lake_catalog, recorder):
    inputs = {"entry": SST, "bbox": [-60, -5, 0, 5], "datetime": "2007-01-01/2007-12-31", "variables": ["sst"]}
    result = run("subset", inputs, context)
    direct = lake_catalog[SST].to_xarray(bbox=inputs["bbox"], datetime=inputs["datetime"], variables=["sst"])
    reopened = _reopen(result)
    assert reopened.sizes == {"time": 12, "latitude": 18, "longitude": 73}
    np.testing.assert_array_equal(reopened["sst"].values, direct["sst"].values)
    for name in ("time", "latitude", "longitude"):
        np.testing.assert_array_equal(reopened[name].values, direct[name].values)
    assert reopened.rio.crs.to_epsg() == 4326
    item = _item_checks(result, "subset")
    assert item.properties["start_datetime"].startswith("2007-01-16")
    assert item.properties["end_datetime"].startswith("2007-12-16")
    assert item.properties["cube:variables"]["sst"]["dimensions"] == ["time", "latitude", "longitude"]
    assert item.properties["proj:code"] == "EPSG:4326" and item.properties["proj:shape"] == [18, 73]
    fractions = [fraction for fraction, _ in recorder.reports]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert any(_advance(message) for _, message in recorder.reports)


def test_subset_keeps_the_source_chunks_in_zarr(context, lake_catalog):
    result = run("subset", {"entry": SST, "bbox": [-30, -5, 30, 5]}, context)
    source = lake_catalog[SST].to_xarray(bbox=[-30, -5, 30, 5])
    reopened = _reopen(result)
    assert reopened["sst"].chunks == source["sst"].chunks
    assert reopened["sst"].chunks[0] == (12, 12, 12, 12, 6)
    xr.testing.assert_equal(reopened["sst"], source["sst"])


def test_subset_reprojected_to_cog_equals_to_xarray_on_the_same_grid(context, lake_catalog):
    inputs = {
        "entry": "theia/land-mask-europe",
        "bbox": [0, 42, 10, 50],
        "crs": "EPSG:3035",
        "resolution": 5000,
        "format": "cog",
    }
    result = run("subset", inputs, context)
    direct = lake_catalog["theia/land-mask-europe"].to_xarray(bbox=inputs["bbox"], crs="EPSG:3035", resolution=5000)
    assert [f.media_type for f in result.files] == ["image/tiff; application=geotiff; profile=cloud-optimized"]
    reopened = _reopen(result)
    assert reopened.rio.crs.to_epsg() == 3035
    assert reopened.rio.transform() == direct.rio.transform()
    np.testing.assert_array_equal(reopened["land"].squeeze("time").values, direct["land"].squeeze("time").values)
    item = _item_checks(result, "subset")
    assert item.properties["proj:code"] == "EPSG:3035"
    assert item.assets["land"].extra_fields["raster:bands"][0]["data_type"] == "float32"


def test_subset_of_a_zarr_cube_on_a_360_day_calendar_to_cog(context, lake_catalog):
    entry = "climeri/sres-a1b-tas"
    result = run(
        "subset", {"entry": entry, "datetime": "2000-06", "bbox": [-100, 30, -80, 45], "format": "cog"}, context
    )
    direct = lake_catalog[entry].to_xarray(datetime="2000-06", bbox=[-100, 30, -80, 45])["tas"].squeeze("time")
    reopened = _reopen(result)["tas"].squeeze("time")
    np.testing.assert_array_equal(reopened.values, direct.values)
    np.testing.assert_allclose(reopened["longitude"].values, direct["longitude"].values)
    item = _item_checks(result, "subset")
    assert item.properties["start_datetime"] == "2000-06-01T00:00:00Z"


def test_subset_to_cog_refuses_several_time_steps(context):
    from gaia_lab.errors import ProcessInputError

    with pytest.raises(ProcessInputError, match="one time step") as caught:
        run("subset", {"entry": SST, "datetime": "2007", "format": "cog"}, context)
    assert caught.value.pointer == "/format"
    assert not list(context.output_dir.iterdir())


def test_subset_outside_the_data_names_the_bbox(context):
    from gaia_lab.errors import ProcessInputError

    with pytest.raises(ProcessInputError) as caught:
        run("subset", {"entry": SST, "bbox": [0, 40, 10, 50]}, context)  # OSTIA here spans 5S-5N
    assert caught.value.pointer == "/bbox"


# ---- aggregate ------------------------------------------------------------------------------------------------


def _sst(lake_catalog, **query):
    return lake_catalog[SST].to_xarray(variables=["sst"], **query)["sst"]


def test_seasonal_resample_equals_xarray_resample(context, lake_catalog):
    result = run("aggregate", {"entry": SST, "operation": "resample", "period": "season"}, context)
    direct = _sst(lake_catalog).resample(time="QS-DEC").mean()
    reopened = _reopen(result)["sst"]
    np.testing.assert_array_equal(reopened["time"].values, direct["time"].values)
    np.testing.assert_allclose(reopened.values, direct.values, rtol=1e-6, equal_nan=True)
    item = _item_checks(result, "aggregate")
    assert item.properties["start_datetime"].startswith("2006-04-16")  # the span of the data aggregated


def test_monthly_climatology_on_a_360_day_calendar_equals_xarray_groupby(context, lake_catalog):
    entry = "climeri/sres-a1b-tas"
    inputs = {"entry": entry, "datetime": "1950/2000", "operation": "climatology", "period": "month",
              "statistic": "max"}  # fmt: skip
    result = run("aggregate", inputs, context)
    tas = lake_catalog[entry].to_xarray(datetime="1950/2000")["tas"]
    direct = tas.groupby("time.month").max()
    reopened = _reopen(result)["tas"]
    assert reopened.dims == ("month", "latitude", "longitude")
    np.testing.assert_array_equal(reopened["month"].values, direct["month"].values)
    np.testing.assert_allclose(reopened.values, direct.values, rtol=1e-6, equal_nan=True)
    item = _item_checks(result, "aggregate")
    assert item.properties["cube:dimensions"]["month"]["type"] == "other"


def test_seasonal_anomaly_equals_xarray_groupby_difference(context, lake_catalog):
    result = run("aggregate", {"entry": SST, "operation": "anomaly", "period": "season"}, context)
    sst = _sst(lake_catalog)
    direct = sst.groupby("time.season") - sst.groupby("time.season").mean()
    reopened = _reopen(result)["sst"]
    assert reopened.sizes == sst.sizes
    np.testing.assert_allclose(reopened.values, direct.values, rtol=1e-5, atol=1e-5, equal_nan=True)
    # an anomaly averages to zero over each season
    assert float(abs(reopened.groupby("time.season").mean().mean(["latitude", "longitude"])).max()) < 1e-4


def test_yearly_resample_of_a_subset(context, lake_catalog):
    entry = "climeri/sres-a1b-tas"
    inputs = {"entry": entry, "bbox": [-100, 30, -80, 45], "datetime": "2000/2019", "operation": "resample",
              "period": "year", "statistic": "std"}  # fmt: skip
    result = run("aggregate", inputs, context)
    tas = lake_catalog[entry].to_xarray(bbox=inputs["bbox"], datetime="2000/2019")["tas"]
    direct = tas.resample(time="YS").std()
    reopened = _reopen(result)["tas"]
    assert reopened.sizes["time"] == 20
    np.testing.assert_allclose(reopened.values, direct.values, rtol=1e-5, equal_nan=True)


# ---- zonal statistics -------------------------------------------------------------------------------------------


def _polygon(name, ring):
    return {"type": "Feature", "properties": {"name": name}, "geometry": {"type": "Polygon", "coordinates": [ring]}}


ZONES = {
    "type": "FeatureCollection",
    "features": [
        _polygon("guinea", [[-10.1, -4.9], [10.1, -4.9], [10.1, 3.7], [-10.1, 3.7], [-10.1, -4.9]]),
        _polygon("pacific", [[-150.2, -3.1], [-120.3, -3.1], [-135.1, 4.1], [-150.2, -3.1]]),
        # between pixel centres (0.83 x 0.56 degree cells): no pixel belongs to it
        _polygon("speck", [[20.05, 0.05], [20.1, 0.05], [20.1, 0.1], [20.05, 0.05]]),
    ],
}


def _direct_zonal(da, lon2d, lat2d):
    """Per zone, the pixels whose centre lies inside it, reduced with xarray."""
    rows = []
    for feature in ZONES["features"]:
        inside = shapely.contains_xy(shapely.geometry.shape(feature["geometry"]), lon2d, lat2d)
        masked = da.where(xr.DataArray(inside, dims=da.dims[-2:]))
        dims = list(da.dims[-2:])
        frame = pd.DataFrame(
            {
                "time": da["time"].values,
                "mean": masked.mean(dims).values,
                "min": masked.min(dims).values,
                "max": masked.max(dims).values,
                "count": masked.count(dims).values,
            }
        )
        frame.insert(0, "zone", feature["properties"]["name"])
        rows.append(frame)
    return pd.concat(rows, ignore_index=True)


@pytest.mark.parametrize("fmt", ["geoparquet", "csv"])
def test_zonal_statistics_equal_masks_reduced_with_xarray(context, lake_catalog, fmt):
    inputs = {"entry": SST, "zones": ZONES, "zone_id": "name", "datetime": "2008", "format": fmt}
    result = run("zonal-statistics", inputs, context)
    sst = _sst(lake_catalog, datetime="2008")
    lon2d, lat2d = np.meshgrid(sst["longitude"].values, sst["latitude"].values)
    direct = _direct_zonal(sst, lon2d, lat2d)
    if fmt == "csv":
        table = pd.read_csv(result.files[0].path, parse_dates=["time"])
    else:
        import geopandas as gpd

        table = gpd.read_parquet(result.files[0].path)
        assert table.crs.to_epsg() == 4326
        assert table.geometry.iloc[0].equals(shapely.geometry.shape(ZONES["features"][0]["geometry"]))
    assert len(table) == 3 * 12
    merged = table.merge(direct, on=["zone", "time"], validate="one_to_one")
    assert len(merged) == 36
    for statistic in ("mean", "min", "max"):
        np.testing.assert_allclose(merged[f"sst_{statistic}"], merged[statistic], rtol=1e-6, equal_nan=True)
    np.testing.assert_array_equal(merged["sst_count"], merged["count"])
    speck = merged[merged["zone"] == "speck"]
    assert (speck["sst_count"] == 0).all() and speck["sst_mean"].isna().all()
    assert (merged[merged["zone"] == "guinea"]["sst_count"] > 100).all()
    item = _item_checks(result, "zonal-statistics")
    assert item.properties["table:row_count"] == 36
    if fmt == "geoparquet":  # a GeoParquet result reopens as a vector cube
        reopened = _reopen(result)
        assert reopened.sizes["geometry"] == 36
        np.testing.assert_allclose(reopened["sst_mean"].values, table["sst_mean"].values, equal_nan=True)


def test_zonal_statistics_on_a_polar_stereographic_grid(context, lake_catalog):
    """Zones in WGS 84 over a cube in a projected CRS: pixel centres are compared in longitude/latitude."""
    entry = "aeris/meteosat-bt108"
    cube = lake_catalog[entry].to_xarray()
    da = cube["bt108"]
    transformer = Transformer.from_crs(cube.rio.crs, "EPSG:4326", always_xy=True)
    x2d, y2d = np.meshgrid(da["x"].values, da["y"].values)
    lon2d, lat2d = transformer.transform(x2d, y2d)
    # zones around the grid's centre, in longitude/latitude
    lon0, lat0 = float(np.median(lon2d)), float(np.median(lat2d))
    zones = {
        "type": "FeatureCollection",
        "features": [
            _polygon("a", [[lon0 - 5.01, lat0 - 3.01], [lon0 + 4.99, lat0 - 3.01], [lon0 + 4.99, lat0 + 2.99],
                           [lon0 - 5.01, lat0 + 2.99], [lon0 - 5.01, lat0 - 3.01]]),
            _polygon("b", [[lon0 + 6.01, lat0], [lon0 + 12.01, lat0], [lon0 + 9.01, lat0 + 5.01],
                           [lon0 + 6.01, lat0]]),
        ],
    }  # fmt: skip
    result = run("zonal-statistics", {"entry": entry, "zones": zones, "zone_id": "name"}, context)
    table = pd.read_parquet(result.files[0].path)
    for feature in zones["features"]:
        polygon = shapely.geometry.shape(feature["geometry"])
        # the process rasterizes the zone reprojected to the grid's CRS (straight edges in x/y), so compare with
        # the same polygon reprojected, tested on x/y pixel centres
        projected = shapely.ops.transform(
            Transformer.from_crs("EPSG:4326", cube.rio.crs, always_xy=True).transform, polygon
        )
        inside = shapely.contains_xy(projected, x2d, y2d)
        values = da.isel(time=0).values[inside]
        row = table[table["zone"] == feature["properties"]["name"]].iloc[0]
        assert row["bt108_count"] == np.count_nonzero(~np.isnan(values)) > 10
        np.testing.assert_allclose(row["bt108_mean"], np.nanmean(values), rtol=1e-6)
        np.testing.assert_allclose(row["bt108_max"], np.nanmax(values), rtol=1e-6)


# ---- time series ------------------------------------------------------------------------------------------------

STATIONS = {
    "type": "FeatureCollection",
    "features": [
        {"type": "Feature", "properties": {"name": name}, "geometry": {"type": "Point", "coordinates": [lon, lat]}}
        for name, lon, lat in [("ATL_0N_0E", 0.2, 0.1), ("PAC_2N_140W", -140.3, 2.2), ("IND_3S_80E", 80.4, -3.3)]
    ],
}


@pytest.mark.parametrize("fmt", ["csv", "netcdf"])
def test_time_series_equal_nearest_cells_selected_with_xarray(context, lake_catalog, fmt):
    inputs = {"entry": SST, "points": STATIONS, "datetime": "2009/2010", "format": fmt}
    result = run("time-series", inputs, context)
    sst = _sst(lake_catalog, datetime="2009/2010")
    if fmt == "csv":
        table = pd.read_csv(result.files[0].path, parse_dates=["time"])
        assert list(table.columns[:6]) == ["station", "time", "longitude", "latitude", "cell_x", "cell_y"]
    else:
        with xr.open_dataset(result.files[0].path) as series:
            assert series.attrs["featureType"] == "timeSeries"
            assert series["station"].attrs["cf_role"] == "timeseries_id"
            table = series.to_dataframe().reset_index()
    assert len(table) == 3 * sst.sizes["time"]
    for feature in STATIONS["features"]:
        lon, lat = feature["geometry"]["coordinates"]
        direct = sst.sel(longitude=lon, latitude=lat, method="nearest")
        rows = table[table["station"] == feature["properties"]["name"]].sort_values("time")
        np.testing.assert_array_equal(rows["time"].to_numpy(), direct["time"].values)
        np.testing.assert_allclose(rows["sst"].to_numpy(), direct.values, rtol=1e-6)
    item = _item_checks(result, "time-series")
    assert item.properties["gaia:stations"] == ["ATL_0N_0E", "PAC_2N_140W", "IND_3S_80E"]


def test_time_series_point_outside_the_cube(context):
    from gaia_lab.errors import ProcessInputError

    points = {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "properties": {"name": "far-north"},
                      "geometry": {"type": "Point", "coordinates": [0, 60]}}],
    }  # fmt: skip
    with pytest.raises(ProcessInputError, match="far-north") as caught:
        run("time-series", {"entry": SST, "points": points}, context)
    assert caught.value.pointer == "/points"


# ---- regrid -----------------------------------------------------------------------------------------------------


def test_regrid_onto_another_entrys_grid_by_average_equals_block_means(context, lake_catalog):
    """The 30'' land mask onto the 5' elevation grid: both grids align, so averaging is a 10 x 10 block mean."""
    bbox = [-10, 35, 30, 60]
    inputs = {"entry": "theia/land-mask-europe", "bbox": bbox, "target": {"entry": "formater/elevation-5min"},
              "resampling": "average"}  # fmt: skip
    result = run("regrid", inputs, context)
    land = lake_catalog["theia/land-mask-europe"].to_xarray(bbox=bbox)["land"]
    elevation = lake_catalog["formater/elevation-5min"].to_xarray(bbox=bbox)["elevation"]
    reopened = _reopen(result)["land"]
    np.testing.assert_allclose(reopened["latitude"].values, elevation["latitude"].values)
    np.testing.assert_allclose(reopened["longitude"].values, elevation["longitude"].values)
    direct = land.coarsen(latitude=10, longitude=10).mean()
    np.testing.assert_allclose(reopened["longitude"].values, direct["longitude"].values)
    np.testing.assert_allclose(reopened.values, direct.values, rtol=1e-5, atol=1e-6)
    item = _item_checks(result, "regrid")
    assert item.properties["proj:shape"] == list(elevation.shape[-2:])


def test_regrid_to_a_crs_and_resolution_equals_rioxarray_reproject(context, lake_catalog):
    bbox = [0, 42, 10, 50]
    inputs = {"entry": "theia/land-mask-europe", "bbox": bbox, "target": {"crs": "EPSG:3035", "resolution": 10000},
              "format": "cog"}  # fmt: skip
    result = run("regrid", inputs, context)
    reopened = _reopen(result)["land"].squeeze("time")
    assert reopened.rio.crs.to_epsg() == 3035 and reopened.rio.resolution() == (10000.0, -10000.0)
    land = lake_catalog["theia/land-mask-europe"].to_xarray(bbox=bbox)["land"].squeeze("time").compute()
    direct = land.rio.reproject("EPSG:3035", shape=reopened.shape, transform=reopened.rio.transform())
    # the lake's nodata (255) fills where nothing maps; the COG declares it, so reading masks it to NaN
    assert land.rio.nodata == 255 and (direct.values == 255).any()
    np.testing.assert_array_equal(reopened.values, direct.where(direct != 255).values)
    assert set(np.unique(reopened.values[~np.isnan(reopened.values)])) == {0, 1}
    item = _item_checks(result, "regrid")
    assert item.assets["land"].extra_fields["raster:bands"][0]["nodata"] == 255


# ---- the user catalogue -----------------------------------------------------------------------------------------


def test_results_open_from_a_static_user_catalogue(context, lake_catalog, tmp_path):
    runs = {
        "subset": {"entry": SST, "bbox": [-20, -5, 20, 5], "datetime": "2008"},
        "aggregate": {"entry": SST, "operation": "climatology", "period": "month"},
        "regrid": {"entry": SST, "datetime": "2008-06", "target": {"crs": "EPSG:3857", "resolution": 200000}},
    }
    items, cubes = [], {}
    for index, (process_id, inputs) in enumerate(runs.items()):
        context.output_dir = tmp_path / f"job-{index}"
        context.item_id = f"job-{index}"
        result = run(process_id, inputs, context)
        items.append(pystac.Item.from_dict(result.item))
        cubes[f"job-{index}"] = _reopen(result).compute()
    catalog = pystac.Catalog("alice", "Alice's results")
    collection = pystac.Collection("results", "Process results", pystac.Extent.from_items(items))
    catalog.add_child(collection)
    for item in items:
        collection.add_item(item)
    catalog.normalize_hrefs(str(tmp_path / "catalogue"))
    catalog.save(pystac.CatalogType.SELF_CONTAINED)
    federation = gl.open_catalog(
        {"providers": [{"name": "me", "hub": "ocean", "type": "stac", "url": str(tmp_path / "catalogue/catalog.json")}]}
    )
    for item_id, expected in cubes.items():
        cube = federation[f"me/results/{item_id}"].to_xarray().compute()
        xr.testing.assert_identical(cube.drop_attrs(), expected.drop_attrs())
    assert federation["me/results/job-2"].to_xarray().rio.crs.to_epsg() == 3857
