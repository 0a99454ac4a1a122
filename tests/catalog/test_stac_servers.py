"""The real STAC API servers serve the demo lake as its static catalogues describe it; the fault servers misbehave
as promised. Plain requests and pystac-client here: gaia_lab's own search is tested on top of these fixtures."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

import pytest
import requests
import shapely.geometry
from fault_servers import BROKEN_JSON, COLLECTION_ID, ITEM_ID, Fault, FaultServer
from pystac_client import Client
from stac_servers import (
    VALIDATOR_VENV,
    RunningServer,
    ServerStartError,
    StacRecords,
    _Launcher,
    start_geoparquet,
    validate_api,
)

CORE = "https://api.stacspec.org/v1.0.0/core"
ITEM_SEARCH = "https://api.stacspec.org/v1.0.0/item-search"
COLLECTIONS = "https://api.stacspec.org/v1.0.0/collections"
FEATURES = "https://api.stacspec.org/v1.0.0/ogcapi-features"
CQL2_JSON = "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json"
CQL2_TEXT = "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text"
TIMEOUT = 30


@pytest.fixture(params=["pgstac_api", "geoparquet_api"])
def stac_api(request: pytest.FixtureRequest) -> RunningServer:
    server: RunningServer = request.getfixturevalue(request.param)
    return server


def _get(url: str, **params: Any) -> dict[str, Any]:
    response = requests.get(url, params=params or None, timeout=TIMEOUT)
    response.raise_for_status()
    return dict(response.json())


def _all_pages(first: requests.Response) -> list[dict[str, Any]]:
    """Follow rel=next links (GET or POST, as the server gives them) to the end."""
    features: list[dict[str, Any]] = []
    response = first
    for _ in range(1000):
        response.raise_for_status()
        page = response.json()
        features += page["features"]
        link = next((link for link in page.get("links", []) if link["rel"] == "next"), None)
        if link is None or not page["features"]:
            return features
        if link.get("method", "GET") == "POST":
            response = requests.post(link["href"], json=link.get("body", {}), timeout=TIMEOUT)
        else:
            response = requests.get(link["href"], timeout=TIMEOUT)
    raise AssertionError("more than 1000 pages")


def _interval(item: dict[str, Any]) -> tuple[dt.datetime, dt.datetime]:
    props = item["properties"]
    start = props.get("start_datetime") or props["datetime"]
    end = props.get("end_datetime") or props["datetime"]
    return dt.datetime.fromisoformat(start), dt.datetime.fromisoformat(end)


def _key(item: dict[str, Any]) -> tuple[str, str]:
    # Item ids are unique within a collection only.
    return item["collection"], item["id"]


def _expected(
    records: StacRecords, bbox: tuple[float, float, float, float], start: dt.datetime, end: dt.datetime
) -> set[tuple[str, str]]:
    box = shapely.geometry.box(*bbox)
    found = set()
    for item in records.items:
        first, last = _interval(item)
        if (
            item["geometry"]
            and shapely.geometry.shape(item["geometry"]).intersects(box)
            and first <= end
            and last >= start
        ):
            found.add(_key(item))
    return found


def _probe(records: StacRecords) -> tuple[tuple[float, float, float, float], dt.datetime, dt.datetime]:
    """A bbox inside one item and a day around its time: a query that selects a strict subset of the lake."""
    item = next(i for i in records.items if i.get("bbox") and i["geometry"])
    b = item["bbox"]
    west, south, east, north = (b[0], b[1], b[3], b[4]) if len(b) == 6 else b
    dx, dy = (east - west) / 4, (north - south) / 4
    first, _ = _interval(item)
    return (
        (west + dx, south + dy, east - dx, north - dy),
        first - dt.timedelta(hours=12),
        first + dt.timedelta(hours=12),
    )


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the lake, served -------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_landing_page_and_conformance(stac_api: RunningServer):
    landing = _get(stac_api.url + "/")
    conformance = _get(stac_api.url + "/conformance")["conformsTo"]
    assert {CORE, ITEM_SEARCH, COLLECTIONS, FEATURES} <= set(conformance)
    assert set(landing["conformsTo"]) == set(conformance)
    assert {"search", "data", "conformance"} <= {link["rel"] for link in landing["links"]}


@pytest.mark.slow
def test_collections_and_item_counts_match_the_static_catalogs(stac_api: RunningServer, lake_stac: StacRecords):
    # more collections than a page holds by default (10): ask for them all
    served = _get(stac_api.url + "/collections", limit=100)["collections"]
    assert sorted(c["id"] for c in served) == sorted(c["id"] for c in lake_stac.collections)
    for collection in lake_stac.collections:
        cid = collection["id"]
        one = _get(f"{stac_api.url}/collections/{cid}")
        assert one["id"] == cid
        assert one.get("keywords") == collection.get("keywords")
        first = requests.get(f"{stac_api.url}/collections/{cid}/items", params={"limit": 7}, timeout=TIMEOUT)
        features = _all_pages(first)
        assert sorted(f["id"] for f in features) == sorted(i["id"] for i in lake_stac.items_of(cid)), cid


@pytest.mark.slow
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_pystac_client_pages_through_every_item(stac_api: RunningServer, lake_stac: StacRecords, method: str):
    client = Client.open(stac_api.url + "/", timeout=TIMEOUT)
    search = client.search(limit=5, max_items=None, method=method)
    keys = [(item.collection_id, item.id) for item in search.items()]
    assert len(keys) == len(lake_stac.items)
    assert set(keys) == {_key(item) for item in lake_stac.items}


@pytest.mark.slow
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_bbox_and_datetime_search_returns_the_expected_items(
    stac_api: RunningServer, lake_stac: StacRecords, method: str
):
    bbox, start, end = _probe(lake_stac)
    expected = _expected(lake_stac, bbox, start, end)
    assert 0 < len(expected) < len(lake_stac.items)
    datetime = f"{_iso(start)}/{_iso(end)}"
    if method == "GET":
        params = {"bbox": ",".join(map(str, bbox)), "datetime": datetime, "limit": 2}
        first = requests.get(stac_api.url + "/search", params=params, timeout=TIMEOUT)
    else:
        body = {"bbox": list(bbox), "datetime": datetime, "limit": 2}
        first = requests.post(stac_api.url + "/search", json=body, timeout=TIMEOUT)
    assert {_key(f) for f in _all_pages(first)} == expected


@pytest.mark.slow
def test_collections_and_limit_parameters(stac_api: RunningServer, lake_stac: StacRecords):
    cid = max((c["id"] for c in lake_stac.collections), key=lambda c: len(lake_stac.items_of(c)))
    wanted = {i["id"] for i in lake_stac.items_of(cid)}
    page = _get(stac_api.url + "/search", collections=cid, limit=1)
    assert len(wanted) > 1
    assert len(page["features"]) == 1
    assert any(link["rel"] == "next" for link in page["links"])
    client = Client.open(stac_api.url + "/", timeout=TIMEOUT)
    found = {item.id for item in client.search(collections=[cid], limit=3).items()}
    assert found == wanted


@pytest.mark.slow
def test_cql2_filter_where_the_server_conforms(stac_api: RunningServer, lake_stac: StacRecords):
    conformance = set(_get(stac_api.url + "/conformance")["conformsTo"])
    if not {CQL2_JSON, CQL2_TEXT} & conformance:
        pytest.skip(f"{stac_api.name} does not claim CQL2")
    target = lake_stac.items[len(lake_stac.items) // 2]
    if CQL2_JSON in conformance:
        body = {
            "collections": [target["collection"]],
            "filter-lang": "cql2-json",
            "filter": {"op": "=", "args": [{"property": "id"}, target["id"]]},
        }
        response = requests.post(stac_api.url + "/search", json=body, timeout=TIMEOUT)
        assert [_key(f) for f in _all_pages(response)] == [_key(target)]
    if CQL2_TEXT in conformance:
        params = {"filter-lang": "cql2-text", "filter": f"collection = '{target['collection']}'", "limit": 4}
        response = requests.get(stac_api.url + "/search", params=params, timeout=TIMEOUT)
        served = {f["id"] for f in _all_pages(response)}
        assert served == {i["id"] for i in lake_stac.items_of(target["collection"])}


@pytest.mark.slow
def test_served_items_point_at_the_lake_files(stac_api: RunningServer, lake_stac: StacRecords):
    target = lake_stac.items[0]
    served = _get(f"{stac_api.url}/collections/{target['collection']}/items/{target['id']}")
    assert served["assets"].keys() == target["assets"].keys()
    for key, asset in served["assets"].items():
        assert asset["href"] == target["assets"][key]["href"]
        parts = urlsplit(asset["href"])
        assert parts.scheme in {"file", "http", "https"}, asset["href"]
        if parts.scheme == "file":
            assert Path(url2pathname(parts.path)).exists(), asset["href"]


@pytest.mark.slow
@pytest.mark.skipif(not (VALIDATOR_VENV / "bin" / "python").exists(), reason="stac-api-validator venv missing")
def test_stac_api_validator_passes(stac_api: RunningServer, lake_stac: StacRecords):
    conformance = set(_get(stac_api.url + "/conformance")["conformsTo"])
    classes = ["core", "collections", "features", "item-search"]
    if CQL2_JSON in conformance or CQL2_TEXT in conformance:
        classes.append("filter")
    collection = next(c["id"] for c in lake_stac.collections if lake_stac.items_of(c["id"]))
    item = lake_stac.items_of(collection)[0]
    # pgstac cannot search with a 3D bbox once an item passes its index (PostGIS box3d; see _tolerate_3d_bbox_failure):
    # reported, not failed, so that every other check still runs.
    tolerate = stac_api.name == "pgstac"
    result = validate_api(
        stac_api.url + "/", classes, collection=collection, geometry=item["geometry"], tolerate_3d_bbox_failure=tolerate
    )
    report = f"{result.stdout}\n{result.stderr}"
    assert result.returncode == 0, report
    assert "Errors: none" in result.stdout, report
    # Offline, only extension schemas may go unchecked: the core STAC and GeoJSON ones must have been found locally.
    skipped = [line for line in result.stderr.splitlines() if line.startswith("offline: schema not checked")]
    assert not [line for line in skipped if "schemas.stacspec.org" in line or "geojson.org" in line], report


# --- server lifecycle -------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_stop_leaves_no_process_port_or_file(lake_stac: StacRecords):
    collection = next(c for c in lake_stac.collections if lake_stac.items_of(c["id"]))
    server = start_geoparquet([collection], lake_stac.items_of(collection["id"]))
    assert _get(server.url + "/collections")["collections"][0]["id"] == collection["id"]
    groups = [proc.pid for proc, _ in server.processes]
    server.stop()
    for pgid in groups:
        with pytest.raises(ProcessLookupError):
            os.killpg(pgid, 0)
    with pytest.raises(requests.ConnectionError):
        requests.get(server.url + "/", timeout=5)
    assert not server.workdir.exists()


def test_a_server_that_dies_at_start_up_fails_with_its_log():
    launcher = _Launcher("doomed", keep_files=False)
    launcher.spawn([sys.executable, "-c", "print('listen failed: port taken', flush=True); raise SystemExit(3)"])
    with pytest.raises(ServerStartError, match="port taken") as error:
        launcher.wait_until(lambda: False, "answering /", timeout=30)
    assert "exited with 3" in str(error.value)
    assert not launcher.workdir.exists()


def test_a_server_that_never_answers_times_out_and_is_killed():
    launcher = _Launcher("mute", keep_files=False)
    proc = launcher.spawn([sys.executable, "-c", "import time; time.sleep(600)"], stop_signal=signal.SIGTERM)
    started = time.monotonic()
    with pytest.raises(ServerStartError, match="not ready after 1 s"):
        launcher.wait_until(lambda: False, "answering /", timeout=1)
    assert time.monotonic() - started < 10
    assert proc.poll() is not None


# --- fault servers ----------------------------------------------------------------------------------------------


def test_a_well_behaved_fault_server_is_a_stac_api_for_pystac_client(fault_server):
    server: FaultServer = fault_server(Fault("none"))
    client = Client.open(server.url + "/", timeout=5)
    assert [c.id for c in client.get_collections()] == [COLLECTION_ID]
    assert [i.id for i in client.search(bbox=[-1, 45, 1, 46], max_items=5).items()] == [ITEM_ID]


def test_slow_api_sleeps_past_the_timeout(slow_api: FaultServer):
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        requests.get(slow_api.url + "/", timeout=0.5)
    assert time.monotonic() - started < 3


def test_broken_json_api_sends_truncated_json(broken_json_api: FaultServer):
    response = requests.get(broken_json_api.url + "/search", timeout=5)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert response.content == BROKEN_JSON
    with pytest.raises(ValueError, match=r"Expecting|Unterminated"):
        response.json()


def test_error_500_api(error_500_api: FaultServer):
    response = requests.post(error_500_api.url + "/search", json={"limit": 1}, timeout=5)
    assert response.status_code == 500
    assert response.json()["code"] == "500"


def test_flaky_503_api_recovers_after_two_failures(flaky_503_api: FaultServer):
    statuses = [requests.get(flaky_503_api.url + "/", timeout=5).status_code for _ in range(4)]
    assert statuses == [503, 503, 200, 200]
    assert flaky_503_api.requests == [("GET", "/")] * 4


@pytest.mark.parametrize(("fixture", "status"), [("unauthorized_api", 401), ("forbidden_api", 403)])
def test_auth_failures(request: pytest.FixtureRequest, fixture: str, status: int):
    server: FaultServer = request.getfixturevalue(fixture)
    response = requests.get(server.url + "/collections", timeout=5)
    assert response.status_code == status
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_faults_can_be_limited_to_some_paths(fault_server):
    server: FaultServer = fault_server(Fault("status", status=500, paths=("/search",)))
    assert requests.get(server.url + "/", timeout=5).status_code == 200
    assert requests.get(server.url + "/search", timeout=5).status_code == 500


def test_stopped_api_refuses_connections(stopped_api_url: str):
    started = time.monotonic()
    with pytest.raises(requests.ConnectionError):
        requests.get(stopped_api_url + "/", timeout=5)
    assert time.monotonic() - started < 2


def test_stop_releases_a_request_still_sleeping(fault_server):
    server: FaultServer = fault_server(Fault("sleep", delay=60.0))
    client = subprocess.Popen(
        [sys.executable, "-c", f"import urllib.request as u; u.urlopen('{server.url}/', timeout=120)"],
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 5
    assert client.wait(timeout=10) != 0  # the connection was dropped, not answered
