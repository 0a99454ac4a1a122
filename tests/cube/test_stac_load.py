"""gaia_lab.cube.stac_load builds the cube odc.stac.load builds, from records parsed once per grid."""

from __future__ import annotations

from pathlib import Path

import dask
import numpy as np
import odc.stac
import pystac
import pytest

from gaia_lab.cube import stac_load
from gaia_lab.cube.records import ItemRecord, absolute_href, as_records


def lake_items(lake_dir: Path, hub: str, collection: str) -> list[pystac.Item]:
    catalog = pystac.Catalog.from_file(str(lake_dir / hub / "catalog.json"))
    found = catalog.get_child(collection)
    assert isinstance(found, pystac.Collection)
    items = list(found.get_items(recursive=True))
    assert items
    return items


CASES = [
    # one grid, 54 time steps
    ("odatis", "ostia-sst-monthly", "sst", {}),
    ("odatis", "ostia-sst-monthly", "sst", {"bbox": (-30.0, -4.0, 0.0, 4.0)}),
    # four tiles on four grids, one time
    ("theia", "land-mask-europe", "land", {}),
    ("theia", "land-mask-europe", "land", {"crs": "EPSG:3035", "resolution": 5000.0}),
    # polar stereographic source reprojected to geographic
    ("aeris", "meteosat-bt108", None, {"crs": "EPSG:4326", "resolution": 0.5}),
    ("formater", "elevation-5min", "elevation", {"crs": "EPSG:32631", "resolution": 10_000.0, "bbox": (-5, 42, 9, 51)}),
]


@pytest.mark.parametrize(("hub", "collection", "band", "query"), CASES)
def test_same_cube_as_odc_stac(lake_dir, hub, collection, band, query):
    items = lake_items(lake_dir, hub, collection)
    records = as_records(items)
    bands = [band] if band else sorted({k for r in records for k in r.data_assets()})
    chunks = {"time": 2, "x": 512, "y": 512}
    ours = stac_load.load(records, bands, chunks=chunks, **query)
    reference = odc.stac.load(items, bands, groupby="time", chunks=chunks, **query)
    assert ours.odc.geobox == reference.odc.geobox
    np.testing.assert_array_equal(ours["time"].values, reference["time"].values)
    assert list(ours.data_vars) == list(reference.data_vars)
    for name in bands:
        assert ours[name].dtype == reference[name].dtype
        assert ours[name].chunks == reference[name].chunks
        # Synchronous: odc-loader's reads from overviews race under threads (rasterio then warns that the
        # overview has no geotransform), with odc.stac.load as with this module.
        with dask.config.set(scheduler="sync"):
            np.testing.assert_array_equal(ours[name].values, reference[name].values)


def test_items_on_one_grid_share_one_template(lake_dir):
    records = as_records(lake_items(lake_dir, "odatis", "ostia-sst-monthly"))
    signatures = {stac_load.grid_signature(r, ["sst"]) for r in records}
    assert len(signatures) == 1
    tiles = as_records(lake_items(lake_dir, "theia", "land-mask-europe"))
    assert len({stac_load.grid_signature(r, ["land"]) for r in tiles}) == 4


def test_the_graph_token_follows_the_hrefs(lake_dir):
    records = as_records(lake_items(lake_dir, "odatis", "ostia-sst-monthly"))
    first = stac_load.load(records, ["sst"], chunks={"time": 1})
    again = stac_load.load(records, ["sst"], chunks={"time": 1})
    assert first["sst"].data.name == again["sst"].data.name
    moved = [
        ItemRecord.from_dict(
            {**r.document, "assets": {k: {**a, "href": a["href"] + ".copy"} for k, a in r.assets.items()}}
        )
        for r in records
    ]
    other = stac_load.load(moved, ["sst"], chunks={"time": 1})
    assert other["sst"].data.name != first["sst"].data.name


@pytest.mark.parametrize(
    ("href", "base", "expected"),
    [
        ("./a.tif", "/lake/hub/item/item.json", "/lake/hub/item/a.tif"),
        ("../data/a.tif", "/lake/hub/item/item.json", "/lake/hub/data/a.tif"),
        ("a.tif", "file:///lake/item.json", "/lake/a.tif"),
        ("/abs/a.tif", "/lake/item.json", "/abs/a.tif"),
        ("s3://bucket/a.tif", "/lake/item.json", "s3://bucket/a.tif"),
        ("../a.tif", "https://hub.example/stac/items/x.json", "https://hub.example/stac/a.tif"),
        ("a.tif", None, "a.tif"),
    ],
)
def test_absolute_hrefs(href, base, expected):
    assert absolute_href(href, base) == expected


def test_records_read_times_and_footprints():
    record = ItemRecord.from_dict(
        {
            "id": "x",
            "bbox": [0, 1, 2, 3],
            "properties": {
                "datetime": None,
                "start_datetime": "2020-01-01T00:00:00Z",
                "end_datetime": "2020-01-31T23:59:59+01:00",
            },
            "assets": {"b": {"href": "b.tif", "roles": ["data"]}, "t": {"href": "t.png", "roles": ["thumbnail"]}},
        },
        "/lake/x/x.json",
    )
    start, end = record.interval
    assert start is not None and start.isoformat() == "2020-01-01T00:00:00+00:00"
    assert end is not None and end.isoformat() == "2020-01-31T22:59:59+00:00"
    assert record.bbox == (0.0, 1.0, 2.0, 3.0)
    assert list(record.data_assets()) == ["b"]
    assert record.assets["t"]["href"] == "/lake/x/t.png"
