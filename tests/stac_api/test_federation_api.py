"""The federation's STAC API over real members: stac-fastapi-pgstac, stac-fastapi-geoparquet and the lake's static
catalogue, searched with pystac-client and checked by stac-api-validator; a member that does not answer is named."""

from __future__ import annotations

import datetime
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests
from fault_servers import Fault, start_fault_server
from pystac_client import Client
from stac_api_servers import ServedApi, start_api
from stac_servers import VALIDATOR_VENV, RunningServer, StacRecords, validate_api

from gaia_lab.catalog.federation import HUBS
from gaia_lab.stac_api.paging import RETRIES

TIMEOUT = 60
pytestmark = pytest.mark.slow


def _get(url: str, **params: Any) -> dict[str, Any]:
    response = requests.get(url, params=params or None, timeout=TIMEOUT)
    assert response.status_code == 200, response.text
    return dict(response.json())


def _member_totals(api: ServedApi, pgstac: RunningServer, geoparquet: RunningServer) -> dict[str, int]:
    """What each member holds, asked of the member itself (not through the federation)."""
    totals = {}
    for name, server in (("pgstac", pgstac), ("geoparquet", geoparquet)):
        client = Client.open(server.url)
        totals[name] = sum(1 for _ in client.search(limit=100).items_as_dicts())
    lake = api.federation.members["lake"]
    from gaia_lab.query import Query

    totals["lake"] = sum(1 for e in lake.search_items(Query()) if e.kind == "item")
    return totals


def _collection_with_items(lake_stac: StacRecords) -> str:
    return next(c["id"] for c in lake_stac.collections if len(lake_stac.items_of(c["id"])) > 5)


def test_landing_page_names_members_and_conformance(federation_api: ServedApi):
    landing = _get(federation_api.url)
    assert {m["name"] for m in landing["federation:members"]} == {"pgstac", "geoparquet", "lake"}
    assert landing["federation:missing"] == []
    conformance = set(_get(federation_api.url + "conformance")["conformsTo"])
    for wanted in (
        "https://api.stacspec.org/v1.0.0/core",
        "https://api.stacspec.org/v1.0.0/item-search",
        "https://api.stacspec.org/v1.0.0/collections",
        "https://api.stacspec.org/v1.0.0/ogcapi-features",
        "https://api.stacspec.org/v1.0.0-rc.2/item-search#filter",
        "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
        "https://api.stacspec.org/v1.0.0-rc.1/collection-search#free-text",
    ):
        assert wanted in conformance
    assert [link["href"] for link in landing["links"] if link["rel"] == "data"] == [federation_api.url + "collections"]


def test_collections_name_their_member_and_hub(federation_api: ServedApi, lake_stac: StacRecords):
    client = Client.open(federation_api.url)
    listed = [c.to_dict() for c in client.get_collections()]
    ids = [c["id"] for c in listed]
    assert len(ids) == len(set(ids))
    for collection in listed:
        assert collection["federation:member"] == collection["id"].split(".", 1)[0]
        assert collection["gaia:hub"] in HUBS  # the collection's own hub where it names one, else its member's
    # The three members serve the same lake: each dataset is listed once, its copies named as mirrors, and every
    # copy stays reachable under its own id.
    wanted = _collection_with_items(lake_stac)
    listed_once = [c for c in listed if c["id"].split(".", 1)[1] == wanted]
    assert len(listed_once) == 1
    assert len(listed_once[0]["federation:mirrors"]) >= 1
    for member in ("pgstac", "geoparquet", "lake"):
        assert _get(f"{federation_api.url}collections/{member}.{wanted}")["federation:member"] == member


def test_pystac_client_pages_through_every_member(
    federation_api: ServedApi, pgstac_member: RunningServer, geoparquet_member: RunningServer
):
    totals = _member_totals(federation_api, pgstac_member, geoparquet_member)
    limit = 6  # 2 items of each member a page: every member spans many pages
    assert all(total > limit for total in totals.values()), totals
    client = Client.open(federation_api.url)
    for method in ("GET", "POST"):
        search = client.search(limit=limit, method=method)
        pages = list(search.pages_as_dicts())
        seen = Counter(f["properties"]["federation:member"] for page in pages for f in page["features"])
        assert dict(seen) == totals, method
        assert all(len(page["features"]) <= limit for page in pages)
        # every member answered on many pages, each time with its own next link or offset kept in the token
        for member, total in totals.items():
            pages_with = sum(
                1 for p in pages if any(f["properties"]["federation:member"] == member for f in p["features"])
            )
            assert pages_with >= total // limit > 1, (member, pages_with, total)
        keys = [(f["collection"], f["id"]) for page in pages for f in page["features"]]
        assert len(keys) == len(set(keys)), "an item came twice"


def test_search_by_collection_ids_bbox_and_datetime(federation_api: ServedApi, lake_stac: StacRecords):
    collection = _collection_with_items(lake_stac)
    items = lake_stac.items_of(collection)
    target = items[len(items) // 2]
    api_collection = f"pgstac.{collection}"
    found = _get(federation_api.url + "search", collections=api_collection, ids=target["id"])
    assert [(f["collection"], f["id"]) for f in found["features"]] == [(api_collection, target["id"])]
    # a day around one item's time, a box around its footprint: that item is among the results of the members that
    # filter by time (stac-fastapi-geoparquet 0.0.7 finds no item of the lake with any datetime, asked directly too)
    moment = target["properties"]["datetime"]
    day = datetime.timedelta(days=1)
    instant = datetime.datetime.fromisoformat(moment)
    span = f"{(instant - day).isoformat()}/{(instant + day).isoformat()}".replace("+00:00", "Z")
    west, south, east, north = target["bbox"]
    # the lake's grids reach past the antimeridian by half a pixel (-180.42): a query must stay within it
    box = ",".join(str(v) for v in (max(west, -180), south, min(east, 180), north))
    found = _get(federation_api.url + "search", datetime=span, bbox=box, limit=50)
    members = {f["properties"]["federation:member"] for f in found["features"] if f["id"] == target["id"]}
    assert members == {"pgstac", "lake"}
    # items of the neighbouring months touch the span (their end is the next month's first instant), no others
    assert len({f["id"] for f in found["features"]}) <= 3
    assert found["federation:missing"] == []
    # an item read on its own, through the features endpoint
    item = _get(f"{federation_api.url}collections/{api_collection}/items/{target['id']}")
    assert item["id"] == target["id"] and item["collection"] == api_collection
    assert item["assets"].keys() == target["assets"].keys()
    missing = requests.get(f"{federation_api.url}collections/{api_collection}/items/no-such-item", timeout=TIMEOUT)
    assert missing.status_code == 404


def test_cql2_filter_is_passed_to_the_members(federation_api: ServedApi, lake_stac: StacRecords):
    collection = _collection_with_items(lake_stac)
    target = lake_stac.items_of(collection)[0]
    cql2 = {
        "op": "and",
        "args": [
            {"op": "=", "args": [{"property": "id"}, target["id"]]},
            {"op": "=", "args": [{"property": "collection"}, f"geoparquet.{collection}"]},
        ],
    }
    posted = requests.post(
        federation_api.url + "search", json={"filter": cql2, "filter-lang": "cql2-json", "limit": 10}, timeout=TIMEOUT
    )
    assert posted.status_code == 200, posted.text
    features = posted.json()["features"]
    # The collection clause names geoparquet's copy: the other members' copies do not match it.
    assert [(f["properties"]["federation:member"], f["id"]) for f in features] == [("geoparquet", target["id"])]
    text = _get(
        federation_api.url + "search",
        filter=f"id = '{target['id']}' AND collection = 'pgstac.{collection}'",
        **{"filter-lang": "cql2-text"},
    )
    assert [(f["properties"]["federation:member"], f["id"]) for f in text["features"]] == [("pgstac", target["id"])]
    bad = requests.get(federation_api.url + "search", params={"filter": "id = = 'x'"}, timeout=TIMEOUT)
    assert bad.status_code == 400 and "filter" in bad.text


def test_collection_search_in_french_through_the_thesaurus(federation_api: ServedApi):
    found = _get(federation_api.url + "collections", q="température de surface de la mer", limit=50)
    ids = [c["id"] for c in found["collections"]]
    assert ids and all("sst" in i for i in ids), ids
    terms = {t["term"] for t in found["federation:query_terms"]}
    assert "sea_surface_temperature" in terms
    scores = [c["federation:score"] for c in found["collections"]]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0
    english = _get(federation_api.url + "collections", q="sea surface temperature", limit=50)
    assert {c["id"] for c in english["collections"]} == set(ids)


def test_a_member_down_is_named_and_the_others_answer(
    members: list[dict[str, Any]], tmp_path: Path, lake_stac: StacRecords
):
    slow = start_fault_server(Fault("sleep", delay=30.0))
    try:
        providers = [*members, {"name": "slow", "hub": "atmosphere", "type": "stac", "url": slow.url, "timeout": 2}]
        api = start_api(providers, tmp_path)
        try:
            first = _get(api.url + "search", limit=8)
            assert first["federation:missing"] == ["slow"]
            assert "slow" in first["federation:errors"]["slow"]
            assert {f["properties"]["federation:member"] for f in first["features"]} == {"pgstac", "geoparquet", "lake"}
            # The slow member keeps its place in the token: asked again on the next pages, then left out.
            page, pages = first, 1
            while any(link["rel"] == "next" for link in page["links"]):
                href = next(link["href"] for link in page["links"] if link["rel"] == "next")
                page = _get(href)
                pages += 1
                assert page["federation:missing"] == ["slow"]
            assert pages > RETRIES + 1
            collections = _get(api.url + "collections")
            assert collections["federation:missing"] == ["slow"]
        finally:
            api.stop()
    finally:
        slow.stop()


def test_a_slow_member_keeps_its_place_in_the_token(lake_dir: Path, tmp_path: Path):
    """A member too slow for the first page is asked again for the next one, from where it was: its items come late,
    none is lost."""
    late = start_fault_server(Fault("sleep", delay=6.0, times=1, paths=("/search",)))
    try:
        providers = [
            {"name": "lake", "hub": "ocean", "type": "stac", "url": str(lake_dir / "odatis" / "catalog.json")},
            {"name": "late", "hub": "atmosphere", "type": "stac", "url": late.url, "timeout": 3},
        ]
        api = start_api(providers, tmp_path)
        try:
            first = _get(api.url + "search", limit=4)
            assert first["federation:missing"] == ["late"]
            assert {f["properties"]["federation:member"] for f in first["features"]} == {"lake"}
            following = next(link["href"] for link in first["links"] if link["rel"] == "next")
            second = _get(following)
            assert second["federation:missing"] == []
            assert [f["id"] for f in second["features"] if f["properties"]["federation:member"] == "late"] == [
                "fault-item"
            ]
        finally:
            api.stop()
    finally:
        late.stop()


def test_starred_datasets_per_user(federation_api: ServedApi, lake_stac: StacRecords):
    collection = f"lake.{_collection_with_items(lake_stac)}"
    url = federation_api.url + "starred"
    assert requests.put(f"{url}/{collection}", timeout=TIMEOUT).status_code == 201
    assert requests.put(f"{url}/{collection}", timeout=TIMEOUT).status_code == 200
    assert requests.put(f"{url}/lake.no-such-collection", timeout=TIMEOUT).status_code == 404
    listed = _get(url)
    assert listed["user"] == "alice"
    assert [s["collection"] for s in listed["starred"]] == [collection]
    assert listed["starred"][0]["entry"] == collection.replace(".", "/", 1)
    assert requests.delete(f"{url}/{collection}", timeout=TIMEOUT).status_code == 204
    assert _get(url)["starred"] == []


@pytest.mark.skipif(not (VALIDATOR_VENV / "bin" / "python").exists(), reason="stac-api-validator venv missing")
def test_stac_api_validator_passes(federation_api: ServedApi, lake_stac: StacRecords):
    collection = _collection_with_items(lake_stac)
    item = lake_stac.items_of(collection)[0]
    result = validate_api(
        federation_api.url,
        ["core", "collections", "features", "item-search", "filter"],
        collection=f"pgstac.{collection}",
        geometry=item["geometry"],
    )
    report = f"{result.stdout}\n{result.stderr}"
    assert result.returncode == 0, report
    assert "Errors: none" in result.stdout, report
    skipped = [line for line in result.stderr.splitlines() if line.startswith("offline: schema not checked")]
    assert not [line for line in skipped if "schemas.stacspec.org" in line or "geojson.org" in line], report


def test_bad_queries_are_400_naming_the_parameter(federation_api: ServedApi):
    for params in ({"bbox": "10,60,20,50"}, {"token": "not-a-token"}, {"intersects": json.dumps({"type": "Point"})}):
        response = requests.get(federation_api.url + "search", params=params, timeout=TIMEOUT)
        assert response.status_code == 400, (params, response.text)
