"""The openeo-graph process: graphs built by the openeo client, evaluated by openeo-processes-dask on a Dask cluster
over the demo lake, compared with the same computation written directly in xarray."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest
import rioxarray
import xarray as xr

import gaia_lab as gl
from gaia_lab.errors import EntryNotFound, ProcessInputError, ProcessLimitError
from gaia_lab.processing import Limits, run, validate_inputs

openeo = pytest.importorskip("openeo")
# The graph runtime (openeo-pg-parser-networkx and the implementations' other dependencies) comes from
# scripts/install-openeo-runtime.sh (scripts/setup.d/50-openeo-runtime.sh); without it the process cannot run.
pytest.importorskip("openeo_pg_parser_networkx", reason="run scripts/install-openeo-runtime.sh")

from gaia_lab.processing.openeo_graph import ID, GraphError, process_ids  # noqa: E402

ENTRY = "odatis/ostia-sst-monthly"
BOX = {"west": -10.0, "south": -2.0, "east": 10.0, "north": 2.0}


def _advance(message: str) -> bool:
    """A report of the computation's advance: ``<label>: done/total tasks`` (or ``chunks`` written, on a cluster)."""
    return re.search(r"\d+/\d+ (tasks|chunks)$", message) is not None


def _cube(collection: str = ENTRY, **load):
    return openeo.DataCube.load_collection(collection, connection=None, **load)


def _on_cluster(context, dask_client):
    return dataclasses.replace(context, client=dask_client)


def _expected_mean(catalog: gl.Catalog, start: str, end_inclusive: str) -> xr.DataArray:
    sst = catalog[ENTRY].to_xarray()["sst"].sel(time=slice(start, end_inclusive))
    sst = sst.sel(latitude=slice(BOX["north"], BOX["south"]), longitude=slice(BOX["west"], BOX["east"]))
    return sst.mean("time").compute()


def test_mean_over_time_matches_xarray_and_runs_on_the_cluster(lake_catalog, context, dask_client, recorder):
    graph = (
        _cube(temporal_extent=["2007-01-01", "2007-04-01"])
        .filter_bbox(**BOX)
        .reduce_dimension(dimension="t", reducer="mean")
        .save_result(format="netCDF")
        .flat_graph()
    )
    from distributed import get_task_stream

    with get_task_stream(dask_client) as stream:
        result = run(ID, {"process_graph": graph}, _on_cluster(context, dask_client))
    assert stream.data, "no task ran on the cluster"
    assert [f.path.name for f in result.files] == ["result.nc"]
    with xr.open_dataset(result.files[0].path) as out:
        got = out["sst"].load()
    # openEO's temporal end is exclusive: 2007-04-01 leaves January to March.
    expected = _expected_mean(lake_catalog, "2007-01-01", "2007-03-31")
    assert got.dims == ("latitude", "longitude")
    assert got.shape == expected.shape == (7, 24)
    np.testing.assert_allclose(got.values, expected.values, rtol=1e-6)
    np.testing.assert_allclose(got["longitude"].values, expected["longitude"].values)
    assert float(got.mean()) > 20  # tropical sea surface temperatures in degrees Celsius, not a fill value
    assert recorder.reports[-1][0] == 1.0
    assert any(_advance(message) for _, message in recorder.reports)
    assert result.item["properties"]["gaia:process"] == ID
    assert result.item["assets"]["netcdf"]["href"] == str(result.files[0].path)


def test_geotiff_result_is_a_cog_per_band(lake_catalog, context, dask_client):
    graph = (
        _cube(temporal_extent=["2008-01-01", "2009-01-01"], bands=["sst"])
        .filter_bbox(**BOX)
        .reduce_dimension(dimension="t", reducer="max")
        .save_result(format="GTiff")
        .flat_graph()
    )
    result = run(ID, {"process_graph": graph}, _on_cluster(context, dask_client))
    assert [f.path.name for f in result.files] == ["sst.tif"]
    raster = rioxarray.open_rasterio(result.files[0].path).squeeze("band", drop=True)
    assert raster.rio.crs.to_epsg() == 4326
    sst = lake_catalog[ENTRY].to_xarray()["sst"].sel(time="2008")
    expected = sst.sel(latitude=slice(2, -2), longitude=slice(-10, 10)).max("time").compute()
    np.testing.assert_allclose(raster.values, expected.values, rtol=1e-6)
    # The result's STAC item opens as a cube like any lake entry.
    reopened = gl.open_datacube(str(result.item_path))
    np.testing.assert_allclose(reopened["sst"].squeeze().values, expected.values, rtol=1e-6)


def test_load_collection_extent_in_another_crs_is_reprojected(lake_catalog, context, dask_client):
    import pyproj

    to_mercator = pyproj.Transformer.from_crs(4326, 3857, always_xy=True)
    west, south = to_mercator.transform(BOX["west"], BOX["south"])
    east, north = to_mercator.transform(BOX["east"], BOX["north"])
    extent = {"west": west, "south": south, "east": east, "north": north, "crs": 3857}
    graph = (
        _cube(spatial_extent=extent, temporal_extent=["2007-01-01", "2007-04-01"])
        .reduce_dimension(dimension="t", reducer="mean")
        .flat_graph()
    )
    result = run(ID, {"process_graph": graph}, _on_cluster(context, dask_client))
    with xr.open_dataset(result.files[0].path) as out:
        got = out["sst"].load()
    # The same query in lon/lat through the library (odc-stac snaps the load grid to the box).
    box = (BOX["west"], BOX["south"], BOX["east"], BOX["north"])
    expected = lake_catalog[ENTRY].to_xarray(bbox=box, datetime="2007-01-01/2007-03-31")["sst"].mean("time")
    assert got.shape == expected.shape
    np.testing.assert_allclose(got["latitude"].values, expected["latitude"].values, atol=1e-6)
    np.testing.assert_allclose(got.values, expected.compute().values, rtol=1e-6)


def test_a_value_result_is_json(lake_catalog, context, dask_client):
    # Mean over time, then over bands, then the spatial mean of the box as one number.
    graph = (
        _cube(temporal_extent=["2007-01-01", "2007-04-01"])
        .filter_bbox(**BOX)
        .reduce_dimension(dimension="t", reducer="mean")
        .reduce_dimension(dimension="bands", reducer="mean")
        .save_result(format="JSON")
        .flat_graph()
    )
    result = run(ID, {"process_graph": graph}, _on_cluster(context, dask_client))
    values = np.array(json.loads(result.files[0].path.read_text()), dtype=float)
    expected = _expected_mean(lake_catalog, "2007-01-01", "2007-03-31")
    np.testing.assert_allclose(values, expected.values, rtol=1e-6)


def test_unknown_collection_names_the_id(context):
    graph = _cube("odatis/nope").save_result().flat_graph()
    with pytest.raises(EntryNotFound, match="odatis/nope"):
        run(ID, {"process_graph": graph}, context)
    assert not any(context.output_dir.iterdir())


def test_unknown_process_names_the_node_before_anything_runs(context):
    graph = _cube().process("no_such_process", data=_cube()).flat_graph()
    with pytest.raises(GraphError, match="no_such_process") as caught:
        run(ID, {"process_graph": graph}, context)
    assert caught.value.pointer == "/process_graph/nosuchprocess1"
    assert {"reduce_dimension", "filter_bbox", "load_collection", "max", "save_result"} <= set(process_ids())


@pytest.mark.parametrize(
    ("graph", "pointer", "match"),
    [
        ({}, "", "process_graph"),  # the schema: an empty object
        ({"a": {"arguments": {}}}, "/process_graph/a", "process_id"),
        ({"a": {"process_id": "load_collection", "arguments": {"id": ENTRY}}}, "/process_graph", "result"),
    ],
)
def test_malformed_graphs_are_refused_naming_the_field(graph, pointer, match):
    with pytest.raises(ProcessInputError, match=match) as caught:
        validate_inputs(ID, {"process_graph": graph})
    assert caught.value.pointer.startswith(pointer)


def test_bad_dimension_and_format_are_input_errors(context, dask_client):
    bad_dim = _cube().reduce_dimension(dimension="z", reducer="mean").flat_graph()
    with pytest.raises(GraphError, match="z"):
        run(ID, {"process_graph": bad_dim}, _on_cluster(context, dask_client))
    bad_format = _cube().save_result(format="PNG").flat_graph()
    with pytest.raises(GraphError, match="format"):
        run(ID, {"process_graph": bad_format}, _on_cluster(context, dask_client))


def test_output_size_limit_refuses_before_computing(context, dask_client):
    graph = _cube().save_result(format="netCDF").flat_graph()
    limited = dataclasses.replace(context, client=dask_client, limits=Limits(max_output_bytes=1000))
    with pytest.raises(ProcessLimitError, match="max_output_bytes"):
        run(ID, {"process_graph": graph}, limited)
