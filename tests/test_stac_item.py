"""gaia_lab.stac_item: the one reading of STAC item JSON (footprints, times, assets, formats, grids)."""

from __future__ import annotations

import pytest

from gaia_lab.stac_item import (
    StacItem,
    absolute_href,
    asset_dicts,
    asset_format,
    geoparquet_asset,
    index_asset,
    opens_items,
)


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
    record = StacItem.from_dict(
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


@pytest.mark.parametrize(
    ("asset", "expected"),
    [
        ({"href": "t.parquet", "type": "application/vnd.apache.parquet", "roles": ["data"]}, "geoparquet"),
        ({"href": "t.bin", "type": "application/x-parquet"}, "geoparquet"),  # STAC's older Parquet media type
        ({"href": "https://hub.example/sites.parquet?sig=1"}, "geoparquet"),  # no media type: the extension
        ({"href": "t.parquet", "type": "application/json"}, None),  # the media type decides
    ],
)
def test_geoparquet_assets_are_recognised(asset, expected):
    assert asset_format(asset) == expected


def test_one_table_asset_holds_a_collection_and_its_items_are_not_read():
    import datetime as dt

    import pystac

    extent = pystac.Extent(
        pystac.SpatialExtent([[0, 0, 1, 1]]), pystac.TemporalExtent([[dt.datetime(2000, 1, 1, tzinfo=dt.UTC), None]])
    )
    table = pystac.Collection("sites", "sites", extent)
    table.add_asset("data", pystac.Asset("/lake/sites.parquet", media_type="application/vnd.apache.parquet"))
    thumbnail_only = pystac.Collection("scenes", "scenes", extent)
    thumbnail_only.add_asset("thumbnail", pystac.Asset("/lake/t.parquet", roles=["thumbnail"]))
    assert geoparquet_asset(asset_dicts(table)) == "data" and not opens_items(table)
    assert geoparquet_asset(asset_dicts(thumbnail_only)) is None and opens_items(thumbnail_only)


def test_an_item_index_is_not_data_and_spares_reading_the_items():
    import datetime as dt

    import pystac

    extent = pystac.Extent(
        pystac.SpatialExtent([[0, 0, 1, 1]]), pystac.TemporalExtent([[dt.datetime(2000, 1, 1, tzinfo=dt.UTC), None]])
    )
    indexed = pystac.Collection("scenes", "scenes", extent)
    indexed.add_asset(
        "geoparquet-items",
        pystac.Asset("/lake/items.parquet", media_type="application/x-parquet", roles=["stac-items"]),
    )
    assert index_asset(asset_dicts(indexed)) == "geoparquet-items"
    assert geoparquet_asset(asset_dicts(indexed)) is None  # not a vector table
    assert not opens_items(indexed)
    other = {"items": {"href": "/lake/items.json", "type": "application/json", "roles": ["stac-items"]}}
    assert index_asset(other) is None
    # an index on a remote store needing credentials of its own: the items are read as before
    remote = {"geoparquet-items": {"href": "abfs://items/scenes.parquet", "roles": ["stac-items"]}}
    assert index_asset(remote) is None
