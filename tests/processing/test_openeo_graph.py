"""The openeo-graph process: graphs built by the openeo client, evaluated by openeo-processes-dask on a Dask cluster
over the demo lake, compared with the same computation written directly in xarray."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rioxarray
import xarray as xr

import gaia_lab as gl
from gaia_lab.errors import EntryNotFound, InvalidQuery

openeo = pytest.importorskip("openeo")
# The graph runtime (openeo-pg-parser-networkx and the implementations' extra deps) is installed by
# scripts/install-openeo.sh; without it the process cannot run at all.
pytest.importorskip("openeo_pg_parser_networkx", reason="run scripts/install-openeo.sh (openEO graph runtime)")

from gaia_lab.processing.openeo_graph import GraphError, evaluate_graph, process_ids  # noqa: E402


ENTRY = "odatis/ostia-sst-monthly"
BOX = {"west": -10.0, "south": -2.0, "east": 10.0, "north": 2.0}


@pytest.fixture(scope="module")
def client():
    with gl.cluster(n_workers=2) as dask_client:
        yield dask_client


def _cube(**load):
    return openeo.DataCube.load_collection(ENTRY, connection=None, **load)


def _expected_mean(catalog: gl.Catalog, start: str, end_inclusive: str) -> xr.DataArray:
    sst = catalog[ENTRY].to_xarray()["sst"].sel(time=slice(start, end_inclusive))
    sst = sst.sel(latitude=slice(BOX["north"], BOX["south"]), longitude=slice(BOX["west"], BOX["east"]))
    return sst.mean("time").compute()


def test_mean_over_time_matches_xarray_and_runs_on_the_cluster(lake_catalog, client, tmp_path):
    graph = (
        _cube(temporal_extent=["2007-01-01", "2007-04-01"])
        .filter_bbox(**BOX)
        .reduce_dimension(dimension="t", reducer="mean")
        .save_result(format="netCDF")
        .flat_graph()
    )
    from distributed import get_task_stream

    with get_task_stream(client) as stream:
        result = evaluate_graph(graph, catalog=lake_catalog, output_dir=tmp_path)
    assert stream.data, "no task ran on the cluster"
    assert [f.suffix for f in result.files] == [".nc"]
    with xr.open_dataset(result.files[0]) as out:
        got = out["result"].sel(bands="sst").load()
    # openEO's temporal end is exclusive: 2007-04-01 leaves January to March.
    expected = _expected_mean(lake_catalog, "2007-01-01", "2007-03-31")
    assert got.shape == expected.shape == (7, 24)
    np.testing.assert_allclose(got.values, expected.values, rtol=1e-6)
    np.testing.assert_allclose(got["x"].values, expected["longitude"].values)
    assert float(got.mean()) > 20  # tropical sea surface temperatures in degrees Celsius, not a fill value


def test_geotiff_result_carries_the_grid(lake_catalog, client, tmp_path):
    graph = (
        _cube(temporal_extent=["2008-01-01", "2009-01-01"], bands=["sst"])
        .filter_bbox(**BOX)
        .reduce_dimension(dimension="t", reducer="max")
        .save_result(format="GTiff")
        .flat_graph()
    )
    result = evaluate_graph(graph, catalog=lake_catalog, output_dir=tmp_path)
    assert [f.suffix for f in result.files] == [".tif"]
    raster = rioxarray.open_rasterio(result.files[0]).squeeze("band", drop=True)
    assert raster.rio.crs.to_epsg() == 4326
    sst = lake_catalog[ENTRY].to_xarray()["sst"].sel(time="2008")
    expected = sst.sel(latitude=slice(2, -2), longitude=slice(-10, 10)).max("time").compute()
    np.testing.assert_allclose(raster.values, expected.values, rtol=1e-6)


def test_load_collection_extent_in_another_crs_is_reprojected(lake_catalog, client, tmp_path):
    # The same box given in Web Mercator metres.
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
    result = evaluate_graph(graph, catalog=lake_catalog, output_dir=tmp_path)
    with xr.open_dataset(result.files[0]) as out:
        got = out["result"].sel(bands="sst").load()
    # The same query in lon/lat through the library (odc-stac snaps the load grid to the box).
    box = (BOX["west"], BOX["south"], BOX["east"], BOX["north"])
    ds = lake_catalog[ENTRY].to_xarray(bbox=box, datetime="2007-01-01/2007-03-31")
    expected = ds["sst"].mean("time").compute()
    assert got.shape == expected.shape
    np.testing.assert_allclose(got["y"].values, expected["latitude"].values, atol=1e-6)
    np.testing.assert_allclose(got.values, expected.values, rtol=1e-6)


def test_unknown_collection_names_the_id(lake_catalog, tmp_path):
    graph = openeo.DataCube.load_collection("odatis/nope", connection=None).save_result().flat_graph()
    with pytest.raises(EntryNotFound, match="odatis/nope"):
        evaluate_graph(graph, catalog=lake_catalog, output_dir=tmp_path)
    assert not list(tmp_path.iterdir())


def test_unknown_process_names_the_node_before_anything_runs(lake_catalog, tmp_path):
    graph = _cube().process("no_such_process", data=_cube()).flat_graph()
    with pytest.raises(GraphError, match="no_such_process") as caught:
        evaluate_graph(graph, catalog=lake_catalog, output_dir=tmp_path)
    assert caught.value.node == "nosuchprocess1"
    assert "reduce_dimension" in process_ids() and "load_collection" in process_ids()


@pytest.mark.parametrize(
    ("graph", "match"),
    [
        ({}, "no nodes"),
        ({"a": {"arguments": {}}}, "process_id"),
        ({"a": {"process_id": "load_collection", "arguments": {"id": ENTRY}}}, "result"),
    ],
)
def test_malformed_graphs_are_refused(lake_catalog, tmp_path, graph, match):
    with pytest.raises(InvalidQuery, match=match):
        evaluate_graph(graph, catalog=lake_catalog, output_dir=tmp_path)


def test_bad_dimension_and_format_are_typed_errors(lake_catalog, client, tmp_path):
    bad_dim = _cube().reduce_dimension(dimension="z", reducer="mean").flat_graph()
    with pytest.raises(GraphError, match="z"):
        evaluate_graph(bad_dim, catalog=lake_catalog, output_dir=tmp_path)
    bad_format = _cube().save_result(format="PNG").flat_graph()
    with pytest.raises(InvalidQuery, match="format"):
        evaluate_graph(bad_format, catalog=lake_catalog, output_dir=tmp_path)
