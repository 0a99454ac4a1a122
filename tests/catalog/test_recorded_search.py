"""Search over STAC metadata recorded from public services (tests/data/stac): one static catalogue per service,
federated, searched for items and collections by bbox (2-D and 3-D footprints, a box across the antimeridian) and
datetime. Every count equals a brute-force filter of the recorded JSON, written here independently of gaia_lab."""

from __future__ import annotations

import datetime as dt
import json
import warnings
from pathlib import Path
from typing import Any

import pystac
import pytest

import gaia_lab as gl

DATA = Path(__file__).resolve().parents[1] / "data" / "stac"
SERVICES = sorted(p.name for p in DATA.iterdir() if p.is_dir())

BOXES = [
    None,
    (-110.0, 35.0, -100.0, 45.0),  # Colorado: Earth Search and Planetary Computer tiles
    (-10.0, 35.0, 30.0, 60.0),  # Europe
    (170.0, -90.0, -170.0, 90.0),  # across the antimeridian
    (-113.0, 38.0, -112.0, 39.0),  # the 3-D footprint of the 3DEP lidar tile (Utah)
    (140.0, -45.0, 155.0, -10.0),  # eastern Australia
]
TIMES = [None, "2020/2021", "../2010-12-31", "2023-10"]


def _collection_id(folder: Path) -> str:
    recorded = folder / "collection.json"
    return str(json.loads(recorded.read_text())["id"]) if recorded.exists() else folder.name


def _features(service: str) -> list[tuple[str, dict[str, Any]]]:
    """(collection id, item) of a service's recordings."""
    return [
        (_collection_id(folder), item)
        for folder in sorted((DATA / service).iterdir())
        for item in json.loads((folder / "items.json").read_text())["features"]
    ]


@pytest.fixture(scope="module")
def recorded_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One static catalogue per service, written with pystac from the recordings (asset hrefs stay remote)."""
    root = tmp_path_factory.mktemp("recorded")
    for service in SERVICES:
        catalog = pystac.Catalog(id=service, description=f"recorded from {service}")
        with warnings.catch_warnings():
            # pystac migrating Earth Search's storage extension warns about every https href to S3
            warnings.filterwarnings("ignore", "Could not parse bucket/account from href", UserWarning)
            for folder in sorted((DATA / service).iterdir()):
                items = [pystac.Item.from_dict(i) for i in json.loads((folder / "items.json").read_text())["features"]]
                recorded = folder / "collection.json"
                if recorded.exists():
                    collection = pystac.Collection.from_dict(json.loads(recorded.read_text()))
                    collection.clear_links()
                else:
                    collection = pystac.Collection(folder.name, "recorded items", pystac.Extent.from_items(items))
                for item in items:
                    item.clear_links()
                    collection.add_item(item)
                catalog.add_child(collection)
        catalog.normalize_hrefs(str(root / service))
        catalog.save(pystac.CatalogType.SELF_CONTAINED)
    return root


@pytest.fixture(scope="module")
def recorded_catalog(recorded_root: Path) -> gl.Catalog:
    providers = [
        {"name": service, "hub": "imagery", "url": str(recorded_root / service / "catalog.json")}
        for service in SERVICES
    ]
    return gl.open_catalog({"providers": providers})


def _footprint(bbox: list[float]) -> tuple[float, float, float, float]:
    return (bbox[0], bbox[1], bbox[3], bbox[4]) if len(bbox) == 6 else (bbox[0], bbox[1], bbox[2], bbox[3])


def _spans(west: float, east: float) -> list[tuple[float, float]]:
    return [(west, 180.0), (-180.0, east)] if west > east else [(west, east)]


def _overlaps(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    if a[1] > b[3] or b[1] > a[3]:
        return False
    return any(w1 <= e2 and w2 <= e1 for w1, e1 in _spans(a[0], a[2]) for w2, e2 in _spans(b[0], b[2]))


def _instant(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def _interval(query: str) -> tuple[dt.datetime | None, dt.datetime | None]:
    start, _, end = query.partition("/")
    if not end:  # a month
        first = dt.datetime.fromisoformat(f"{start}-01").replace(tzinfo=dt.UTC)
        following = (first + dt.timedelta(days=32)).replace(day=1)
        return first, following - dt.timedelta(microseconds=1)
    begin = None if start == ".." else dt.datetime.fromisoformat(f"{start}-01-01").replace(tzinfo=dt.UTC)
    finish = None if end == ".." else dt.datetime.fromisoformat(end if "-" in end else f"{end}-12-31")
    if finish is not None:
        finish = finish.replace(hour=23, minute=59, second=59, microsecond=999999, tzinfo=dt.UTC)
    return begin, finish


def _in_time(properties: dict[str, Any], query: str) -> bool:
    start = _instant(properties.get("start_datetime") or properties.get("datetime"))
    end = _instant(properties.get("end_datetime") or properties.get("datetime"))
    begin, finish = _interval(query)
    return not (
        (finish is not None and start is not None and start > finish)
        or (begin is not None and end is not None and end < begin)
    )


def _expected_items(bbox: tuple[float, ...] | None, datetime: str | None) -> set[str]:
    found = set()
    for service in SERVICES:
        for collection, item in _features(service):
            if bbox is not None and item.get("bbox") and not _overlaps(bbox, _footprint(item["bbox"])):
                continue
            if datetime is not None and not _in_time(item["properties"], datetime):
                continue
            found.add(f"{service}/{collection}/{item['id']}")
    return found


@pytest.mark.parametrize("datetime", TIMES)
@pytest.mark.parametrize("bbox", BOXES)
def test_item_search_counts_equal_a_brute_force_filter(recorded_catalog, bbox, datetime):
    expected = _expected_items(bbox, datetime)
    results = recorded_catalog.search(items=True, bbox=bbox, datetime=datetime, limit=10_000)
    assert not results.errors
    assert {e.id for e in results} == expected
    if bbox is None and datetime is None:
        assert len(expected) == sum(len(_features(s)) for s in SERVICES)


def test_some_queries_select_and_some_exclude(recorded_catalog):
    # The parametrized counts above would pass on a filter that keeps or drops everything: these say it does not.
    every = _expected_items(None, None)
    for bbox in BOXES[1:]:
        assert 0 < len(_expected_items(bbox, None)) < len(every), bbox
    for datetime in TIMES[1:]:
        assert 0 < len(_expected_items(None, datetime)) < len(every), datetime


def test_the_item_across_the_antimeridian_is_found_from_both_sides(recorded_catalog):
    crossing = [
        (service, item)
        for service in SERVICES
        for _, item in _features(service)
        if item["bbox"][0] > item["bbox"][-3 if len(item["bbox"]) == 6 else 2]
    ]
    assert crossing
    for service, item in crossing:
        west, south, east, north = _footprint(item["bbox"])
        middle = (south + north) / 2
        for side in ((west, middle, 180.0, middle + 0.1), (-180.0, middle, east, middle + 0.1)):
            ids = {e.id.rsplit("/", 1)[1] for e in recorded_catalog.search(items=True, bbox=side, providers=[service])}
            assert item["id"] in ids, side


@pytest.mark.parametrize("bbox", BOXES)
def test_collection_search_counts_equal_a_brute_force_filter(recorded_catalog, recorded_root, bbox):
    expected = set()
    for written in recorded_root.glob("*/*/collection.json"):
        collection = json.loads(written.read_text())
        extent = collection["extent"]["spatial"]["bbox"][0]
        if bbox is None or _overlaps(bbox, _footprint(extent)):
            expected.add(f"{written.parent.parent.name}/{collection['id']}")
    results = recorded_catalog.search(bbox=bbox, limit=1000)
    assert not results.errors
    # The same collection (id and title) served by two services is one entry naming the other as a mirror:
    # Landsat Collection 2 Level-2 and Sentinel-2 L2A from Earth Search and Planetary Computer.
    found = [e.id for e in results] + [mirror for e in results for mirror in e.mirrors]
    assert sorted(found) == sorted(expected)
    assert expected
