"""gaia_lab.stac_item: the one reading of STAC item JSON (footprints, times, assets, formats, grids)."""

from __future__ import annotations

import pytest

from gaia_lab.stac_item import StacItem, absolute_href


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
