"""gaia_lab.cube.stac_index opens items indexed in stac-geoparquet as the cube odc.stac.load builds from them."""

from __future__ import annotations

import json
from pathlib import Path

import dask
import numpy as np
import odc.stac
import pyarrow.parquet as pq
import pystac
import pytest

import gaia_lab as gl
from gaia_lab.cube import stac_index
from gaia_lab.errors import AssetError, EmptyResult
from gaia_lab.query import CubeRequest

CASES = [
    # one grid, 54 time steps
    ("odatis", "ostia-sst-monthly", "sst", {}),
    ("odatis", "ostia-sst-monthly", "sst", {"bbox": (-30.0, -4.0, 0.0, 4.0)}),
    # four tiles on four grids, one time; uint8 with a nodata sentinel
    ("theia", "land-mask-europe", "land", {}),
    ("theia", "land-mask-europe", "land", {"crs": "EPSG:3035", "resolution": 5000.0}),
]


def lake_items(lake_dir: Path, hub: str, collection: str) -> list[pystac.Item]:
    found = pystac.Catalog.from_file(str(lake_dir / hub / "catalog.json")).get_child(collection)
    assert isinstance(found, pystac.Collection)
    return list(found.get_items(recursive=True))


@pytest.mark.parametrize(("hub", "collection", "band", "query"), CASES)
def test_same_cube_as_odc_stac_on_the_items(lake_dir, tmp_path, hub, collection, band, query):
    items = lake_items(lake_dir, hub, collection)
    index = stac_index.write_index(items, tmp_path / "items.parquet")
    chunks = {"time": 2, "x": 512, "y": 512}
    request = CubeRequest.parse(variables=[band], chunks=chunks, **query)
    ours = stac_index.open_index(str(index), request, entry_id="lake/test")
    reference = odc.stac.load(items, [band], groupby="time", chunks=chunks, **query)
    assert ours.odc.geobox == reference.odc.geobox
    np.testing.assert_array_equal(ours["time"].values, reference["time"].values)
    assert ours[band].chunks == reference[band].chunks
    assert ours.attrs["gaia:items"] == len(items)
    with dask.config.set(scheduler="sync"):
        values = ours[band].values
        expected = reference[band].values
    nodata = reference[band].attrs.get("nodata")
    if expected.dtype.kind != "f" and nodata is not None:
        # the cube promises NaN for no data, as open_raster_items makes it
        expected = np.where(expected == nodata, np.nan, expected).astype(values.dtype)
    np.testing.assert_array_equal(values, expected)


def test_the_cube_equals_the_one_opened_from_the_item_files(lake_dir, tmp_path):
    items = lake_items(lake_dir, "odatis", "ostia-sst-monthly")
    index = stac_index.write_index(items, tmp_path / "items.parquet")
    from_index = gl.open_datacube(str(index), datetime="2007-01-01/2007-12-31", chunks={"time": 4})
    catalog = gl.open_catalog(lake_dir / "federation.yaml")
    from_files = catalog["odatis/ostia-sst-monthly"].to_xarray(datetime="2007-01-01/2007-12-31", chunks={"time": 4})
    assert len(from_index.time) == 12
    assert from_index.odc.geobox == from_files.odc.geobox
    assert from_index.rio.crs == from_files.rio.crs
    with dask.config.set(scheduler="sync"):
        np.testing.assert_array_equal(from_index["sst"].values, from_files["sst"].values)


def test_a_collection_with_a_stac_items_asset_opens_through_it(lake_dir, tmp_path):
    """The catalogue opens a collection from its index: the item files are not read (they are gone)."""
    items = lake_items(lake_dir, "theia", "land-mask-europe")
    index = stac_index.write_index(items, tmp_path / "index" / "items.parquet")
    collection = {
        "type": "Collection",
        "stac_version": "1.1.0",
        "id": "tiles",
        "description": "land mask tiles, items indexed in stac-geoparquet",
        "license": "other",
        "extent": {"spatial": {"bbox": [[-10, 35, 30, 60]]}, "temporal": {"interval": [[None, None]]}},
        "links": [],
        "assets": {
            "geoparquet-items": {
                "href": "./index/items.parquet",
                "type": "application/vnd.apache.parquet",
                "roles": ["stac-items"],
            }
        },
    }
    (tmp_path / "collection.json").write_text(json.dumps(collection))
    catalog = gl.open_catalog(
        {"providers": [{"name": "indexed", "hub": "land", "url": str(tmp_path / "collection.json")}]}
    )
    ds = catalog["indexed/tiles"].to_xarray(bbox=(-5, 40, 15, 55))
    assert ds.attrs["gaia:index"] == str(index)
    reference = odc.stac.load(items, ["land"], groupby="time", bbox=(-5, 40, 15, 55), chunks={})
    assert ds.odc.geobox == reference.odc.geobox


def test_opening_reads_no_pixel(lake_dir, tmp_path):
    items = lake_items(lake_dir, "theia", "land-mask-europe")
    documents = []
    for item in items:
        document = item.to_dict(transform_hrefs=False)
        for asset in document["assets"].values():
            asset["href"] = str(tmp_path / "absent" / "land.tif")
        documents.append(document)
    index = stac_index.write_index(documents, tmp_path / "items.parquet")
    ds = stac_index.open_index(str(index), CubeRequest.parse(), entry_id="lake/test")
    assert list(ds.data_vars) == ["land"]
    with pytest.raises(AssetError, match="absent"), dask.config.set(scheduler="sync"):
        ds["land"].isel(longitude=slice(0, 10), latitude=slice(0, 10)).compute()


def test_errors_name_the_index_and_the_parameter(lake_dir, tmp_path):
    items = lake_items(lake_dir, "odatis", "ostia-sst-monthly")
    index = stac_index.write_index(items, tmp_path / "items.parquet")
    with pytest.raises(EmptyResult, match="datetime"):
        stac_index.open_index(str(index), CubeRequest.parse(datetime="1900-01-01/1900-12-31"), entry_id="x/y")
    with pytest.raises(EmptyResult, match="bbox"):
        stac_index.open_index(str(index), CubeRequest.parse(bbox=(170, 80, 171, 81)), entry_id="x/y")
    table = pq.read_table(index).drop_columns(["assets"])
    pq.write_table(table, tmp_path / "plain.parquet")
    with pytest.raises(AssetError, match=r"plain\.parquet"):
        stac_index.open_index(str(tmp_path / "plain.parquet"), CubeRequest.parse(), entry_id="x/y")


@pytest.mark.parametrize("stripped", [slice(0, 2), slice(None)])
def test_items_without_grids_are_placed_by_their_footprints(lake_dir, tmp_path, stripped):
    """Some or all items lack proj:transform / proj:shape: odc-stac places every item by its footprint, on the
    requested grid; the index does the same (without reading the grids when the statistics show none is needed)."""
    items = lake_items(lake_dir, "theia", "land-mask-europe")
    for item in items[stripped]:
        item.properties.pop("proj:transform", None)
        item.properties.pop("proj:shape", None)
    index = stac_index.write_index(items, tmp_path / "items.parquet")
    query = {"crs": "EPSG:3035", "resolution": 5000.0}
    ours = stac_index.open_index(str(index), CubeRequest.parse(chunks={"time": 1}, **query), entry_id="lake/test")
    reference = odc.stac.load(items, ["land"], groupby="time", chunks={"time": 1}, **query)
    assert ours.odc.geobox == reference.odc.geobox
    with dask.config.set(scheduler="sync"):
        values, expected = ours["land"].values, reference["land"].values
    expected = np.where(expected == reference["land"].attrs["nodata"], np.nan, expected).astype(values.dtype)
    np.testing.assert_array_equal(values, expected)


def test_a_pickled_cube_reads_the_same_values(lake_dir, tmp_path):
    """Dask workers in other processes receive the graph pickled: the index's arrays travel, the hrefs are read
    again there."""
    import pickle

    items = lake_items(lake_dir, "odatis", "ostia-sst-monthly")
    index = stac_index.write_index(items, tmp_path / "items.parquet")
    ds = stac_index.open_index(str(index), CubeRequest.parse(chunks={"time": 6}), entry_id="lake/test")
    with dask.config.set(scheduler="sync"):
        expected = ds["sst"].isel(time=slice(6, 12)).values
        copy = pickle.loads(pickle.dumps(ds))
        np.testing.assert_array_equal(copy["sst"].isel(time=slice(6, 12)).values, expected)


@pytest.mark.parametrize(
    "selection",
    [
        {"time": 0},
        {"time": -1},
        {"time": slice(1, 11, 3)},
        {"time": 5, "latitude": 10, "longitude": slice(None, None, 7)},
        {"time": slice(None, None, -5)},
    ],
    ids=["first step", "last step", "strided", "a row of one step", "reversed"],
)
def test_selections_dask_fuses_into_the_read_give_the_cube_s_values(lake_dir, tmp_path, selection):
    """dask folds a selection on a freshly opened cube into its chunks' reads (an integer key for ``isel(time=0)``,
    a step for a strided slice): the indexed band answers any key within one tile."""
    items = lake_items(lake_dir, "odatis", "ostia-sst-monthly")
    index = stac_index.write_index(items, tmp_path / "items.parquet")
    cube = stac_index.open_index(str(index), CubeRequest.parse(chunks={"time": 4}), entry_id="lake/test")["sst"]
    with dask.config.set(scheduler="sync"):
        whole = cube.values
        selected = cube.isel(selection).values
    assert np.isfinite(selected).any()
    np.testing.assert_array_equal(selected, whole[tuple(selection.get(d, slice(None)) for d in cube.dims)])


def test_templates_beyond_the_rows_decoded_for_the_first_item_are_read(lake_dir, tmp_path, monkeypatch):
    """The rows decoded for the first item are kept for the templates; a grid whose first item lies beyond them
    is decoded then, in as many batches as it takes."""
    monkeypatch.setattr(stac_index, "_HEAD_BATCH_ROWS", (1, 2))
    items = lake_items(lake_dir, "theia", "land-mask-europe")
    index = stac_index.write_index(items, tmp_path / "items.parquet")
    query = {"crs": "EPSG:3035", "resolution": 5000.0}
    ours = stac_index.open_index(str(index), CubeRequest.parse(chunks={"time": 1}, **query), entry_id="lake/test")
    reference = odc.stac.load(items, ["land"], groupby="time", chunks={"time": 1}, **query)
    assert len({tuple(item.properties["proj:transform"]) for item in items}) == 4
    assert ours.odc.geobox == reference.odc.geobox
    with dask.config.set(scheduler="sync"):
        values, expected = ours["land"].values, reference["land"].values
    expected = np.where(expected == reference["land"].attrs["nodata"], np.nan, expected).astype(values.dtype)
    np.testing.assert_array_equal(values, expected)
