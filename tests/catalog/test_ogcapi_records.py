"""The OGC API - Records provider against pygeoapi 0.21 (TinyDB catalogue) serving the same records as the CSW
tests, a federation of static STAC + CSW + Records answering one query, protocol detection, and servers that lie."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import xarray as xr
from catalogue_servers import LAKE_FILE_RECORDS, RECORDS_COLLECTION
from fault_servers import Fault, FaultServer
from stac_servers import RunningServer

import gaia_lab as gl
from gaia_lab.catalog.providers import ogcapi_records as records_module
from gaia_lab.catalog.providers.links import Link, classify, data_links
from gaia_lab.cube import apply_query, open_zarr
from gaia_lab.errors import EntryNotOpenable, ProviderError, ProviderTimeout
from gaia_lab.query import CubeRequest

pytestmark = pytest.mark.slow


def catalog(url: str, name: str = "records", **extra: Any) -> gl.Catalog:
    return gl.open_catalog(
        {"providers": [{"name": name, "hub": "ocean", "type": "ogcapi-records", "url": url, **extra}]}
    )


def ids(results: Any) -> set[str]:
    return {entry.local_id.split("/", 1)[1] for entry in results}


@pytest.fixture(scope="module")
def records(records_server: RunningServer) -> gl.Catalog:
    return catalog(records_server.url)


def test_records_become_entries(records: gl.Catalog) -> None:
    res = records.search(limit=None)
    assert not res.errors
    assert {"NS06agg", "955c3e47-411e-4969-b61b-3556d1b9f879", "odatis:ostia-sst", *LAKE_FILE_RECORDS} <= ids(res)
    entry = records[f"records/{RECORDS_COLLECTION}/NS06agg"]
    assert entry.title == "PacIOOS Nearshore Sensor 06: Pohnpei, Micronesia"
    # themes keep their scheme: the thesaurus of each keyword
    assert entry.keyword_thesauri["sea_water_temperature"] == "CF-1.4"
    assert entry.keyword_thesauri["Oceans > Salinity/Density > Salinity"] == "GCMD Science Keywords"
    assert entry.bbox is not None
    assert entry.bbox.west == pytest.approx(158.22402954101562)
    assert entry.datetime is not None
    assert entry.datetime[1] is not None
    assert entry.datetime[1].year == 2014
    no_extent = records[f"records/{RECORDS_COLLECTION}/3f342f64-9348-11df-ba6a-0014c2c00eab"]
    assert no_extent.bbox is None


def test_q_bbox_datetime(records: gl.Catalog) -> None:
    french = ids(records.search("température de la mer"))
    assert {"org.maracoos:avhrr.sst", "odatis:ostia-sst", "gaia-test:ostia-sst-zarr"} <= french
    assert "955c3e47-411e-4969-b61b-3556d1b9f879" not in french
    brittany = ids(records.search(bbox=(-6, 47, -1, 49), limit=None))
    assert "955c3e47-411e-4969-b61b-3556d1b9f879" in brittany
    assert "NS06agg" not in brittany
    # pygeoapi's TinyDB catalogue compares datetime with the record's start (its ``time_field``).
    june_2009 = ids(records.search(datetime="2009-06-01/2009-06-30", limit=None))
    assert "ie.marine.data:dataset.1135" in june_2009
    assert "NS06agg" not in june_2009


def test_paging_follows_next_links(records: gl.Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    everything = ids(records.search(limit=None))
    monkeypatch.setattr(records_module, "PAGE_SIZE", 4)
    provider = records.providers[0]
    seen: list[str] = []
    original = provider._get

    def counted(url: str, params: Any = None) -> Any:
        seen.append(url)
        return original(url, params)

    monkeypatch.setattr(provider, "_get", counted)
    assert ids(records.search(limit=None)) == everything
    pages = [url for url in seen if "/items" in url]
    assert len(pages) >= len(everything) // 4
    offsets = [int(parse_qs(urlsplit(url).query).get("offset", ["0"])[0]) for url in pages]
    assert offsets[:3] == [0, 4, 8]
    seen.clear()
    assert len(records.search(limit=5)) == 5
    assert len([url for url in seen if "/items" in url]) == 2


def _data(ds: xr.Dataset) -> xr.Dataset:
    return ds.drop_attrs(deep=False)


def test_links_open_as_cubes(records: gl.Catalog, lake_dir: Path, lake_http: Any) -> None:
    zarr = records[f"records/{RECORDS_COLLECTION}/gaia-test:ostia-sst-zarr"]
    assert zarr.formats == ["zarr"]
    ds = zarr.to_xarray(datetime="2009")
    direct = open_zarr(str(lake_dir / "odatis" / "ostia-sst" / "ostia-sst.zarr"))
    expected = apply_query(direct, CubeRequest.parse(datetime="2009"), entry_id="direct")
    xr.testing.assert_equal(_data(ds).load(), _data(expected).load())
    netcdf = records[f"records/{RECORDS_COLLECTION}/gaia-test:ostia-sst-netcdf"].to_xarray(bbox=(0, -3, 40, 3))
    with xr.open_dataset(lake_http.root / "netcdf" / "ostia-sst.nc") as local:
        expected = apply_query(local, CubeRequest.parse(bbox=(0, -3, 40, 3)), entry_id="direct")
        xr.testing.assert_equal(_data(netcdf).load(), _data(expected).load())
    cog = records[f"records/{RECORDS_COLLECTION}/gaia-test:ostia-sst-cog"].to_xarray()
    assert list(cog.data_vars) == ["sst"]
    with pytest.raises(EntryNotOpenable, match=r"related http://www\.cadastre\.gouv\.fr"):
        records[f"records/{RECORDS_COLLECTION}/955c3e47-411e-4969-b61b-3556d1b9f879"].to_xarray()


def test_link_classification() -> None:
    assert classify(Link("https://x/y.zarr")) == "zarr"
    assert classify(Link("https://x/store", media_type="application/vnd+zarr")) == "zarr"
    assert classify(Link("https://x/a.tif")) == "geotiff"
    assert classify(Link("https://x/a", media_type="image/tiff; application=geotiff")) == "geotiff"
    assert classify(Link("https://x/a.nc")) == "netcdf"
    assert classify(Link("http://tds/thredds/dodsC/x/y", protocol="OPeNDAP:OPeNDAP")) == "opendap"
    assert classify(Link("http://tds/thredds/dodsC/x/y.html", protocol="WWW:LINK")) is None
    assert classify(Link("https://x/collection.json", protocol="OGC:STAC")) == "stac"
    assert classify(Link("https://x/page", media_type="text/html")) is None
    assert classify(Link("https://x/a.tif", rel="self")) is None
    assert classify(Link("http://x/geoserver/wms", protocol="OGC:WMS-1.1.1-http-get-map")) is None
    ordered = data_links([Link("https://x/a.nc"), Link("https://x/y.zarr"), Link("https://x/page.html")])
    assert [link.kind for link in ordered] == ["zarr", "netcdf"]


# -- one query, many protocols --------------------------------------------------------------------------------------


def test_federation_of_stac_api_static_stac_csw_and_records(
    lake_dir: Path, pycsw_server: RunningServer, records_server: RunningServer, geoparquet_api: RunningServer
) -> None:
    cat = gl.open_catalog(
        {
            "providers": [
                {"name": "api", "hub": "ocean", "type": "stac", "url": geoparquet_api.url, "timeout": 30},
                {"name": "odatis", "hub": "ocean", "type": "stac", "url": str(lake_dir / "odatis" / "catalog.json")},
                {"name": "sextant", "hub": "ocean", "type": "csw", "url": pycsw_server.url},
                {"name": "records", "hub": "ocean", "type": "ogcapi-records", "url": records_server.url},
            ]
        }
    )
    res = cat.search("température de la mer", bbox=(-40, -5, 40, 5), datetime="2008")
    assert not res.errors
    by_provider: dict[str, set[str]] = {}
    for entry in res:
        # the same collection served by the STAC API and the static catalogue is one entry with a mirror
        for found in (entry.id, *entry.mirrors):
            provider, local_id = found.split("/", 1)
            by_provider.setdefault(provider, set()).add(local_id)
    assert "ostia-sst" in by_provider["odatis"]
    assert "ostia-sst" in by_provider["api"]
    assert "odatis:ostia-sst" in by_provider["sextant"]
    assert f"{RECORDS_COLLECTION}/odatis:ostia-sst" in by_provider["records"]
    # the same cube, whichever catalogue found it
    via_csw = cat["sextant/odatis:ostia-sst"].to_xarray(datetime="2008-03")
    via_stac = cat["odatis/ostia-sst"].to_xarray(datetime="2008-03")
    xr.testing.assert_equal(_data(via_csw).load(), _data(via_stac).load())


def test_auto_detects_csw_and_records(pycsw_server: RunningServer, records_server: RunningServer) -> None:
    cat = gl.open_catalog(
        {
            "providers": [
                {"name": "a", "hub": "ocean", "type": "auto", "url": pycsw_server.url},
                {"name": "b", "hub": "ocean", "type": "auto", "url": records_server.url},
            ]
        }
    )
    res = cat.search("salinité")
    assert not res.errors
    assert {p.name: p.kind for p in cat.providers} == {"a": "csw", "b": "ogcapi-records"}
    assert {e.provider for e in res} == {"a", "b"}


# -- servers that lie or fail ---------------------------------------------------------------------------------------


def _records_api(items: Callable[[str, dict[str, list[str]]], dict[str, Any]]) -> Callable[..., tuple[int, str, bytes]]:
    def respond(method: str, path: str, body: bytes) -> tuple[int, str, bytes]:
        parts = urlsplit(path)
        if parts.path.rstrip("/") == "/collections":
            listing = {"collections": [{"id": "lies", "itemType": "record", "title": "Lies"}], "links": []}
            return 200, "application/json", json.dumps(listing).encode()
        if parts.path.endswith("/items"):
            return 200, "application/geo+json", json.dumps(items(path, parse_qs(parts.query))).encode()
        return 404, "application/json", b'{"code": "NotFound"}'

    return respond


def _record(number: int) -> dict[str, Any]:
    return {
        "id": f"rec-{number}",
        "type": "Feature",
        "geometry": None,
        "properties": {"title": f"Sea temperature record {number}", "type": "dataset"},
        "links": [],
    }


def test_wrong_number_matched_terminates(fault_server: Callable[[Fault], FaultServer], records: gl.Catalog) -> None:
    def endless(path: str, query: dict[str, list[str]]) -> dict[str, Any]:
        # Claims a million records and always links a next page, but has only these three.
        offset = int(query.get("offset", ["0"])[0])
        return {
            "type": "FeatureCollection",
            "numberMatched": 1_000_000,
            "numberReturned": 3,
            "features": [_record(n) for n in range(3)],
            "links": [{"rel": "next", "href": f"/collections/lies/items?offset={offset + 3}&limit=3"}],
        }

    server = fault_server(Fault("script", responder=_records_api(endless)))
    liar = catalog(server.url, name="liar")
    started = time.monotonic()
    res = liar.search(limit=None)
    assert time.monotonic() - started < 5
    assert not res.errors
    assert ids(res) == {"rec-0", "rec-1", "rec-2"}
    assert len([r for r in server.requests if r[1].startswith("/collections/lies/items")]) == 2

    def looping(path: str, query: dict[str, list[str]]) -> dict[str, Any]:
        # Next links without end, each page with a new record: bounded by MAX_PAGES.
        number = len(server2.requests)
        return {
            "type": "FeatureCollection",
            "numberMatched": 5,
            "features": [_record(1000 + number)],
            "links": [{"rel": "next", "href": f"/collections/lies/items?page={number}"}],
        }

    server2 = fault_server(Fault("script", responder=_records_api(looping)))
    res = catalog(server2.url, name="loop").search(limit=None)
    assert len(res) == records_module.MAX_PAGES


def test_failing_records_servers_land_in_errors(
    fault_server: Callable[[Fault], FaultServer],
    slow_api: FaultServer,
    error_500_api: FaultServer,
    records_server: RunningServer,
) -> None:
    broken = fault_server(
        Fault("script", responder=_records_api(lambda path, query: {"type": "FeatureCollection", "features": "x"}))
    )
    html = fault_server(Fault("script", responder=lambda m, p, b: (200, "text/html", b"<html>maintenance</html>")))
    cat = gl.open_catalog(
        {
            "providers": [
                {"name": "good", "hub": "ocean", "type": "ogcapi-records", "url": records_server.url},
                {"name": "html", "hub": "ocean", "type": "ogcapi-records", "url": html.url},
                {"name": "slow", "hub": "ocean", "type": "ogcapi-records", "url": slow_api.url, "timeout": 1},
                {"name": "empty", "hub": "ocean", "type": "ogcapi-records", "url": broken.url},
                {"name": "crash", "hub": "ocean", "type": "ogcapi-records", "url": error_500_api.url},
            ]
        }
    )
    res = cat.search("temperature")
    assert set(res.errors) == {"html", "slow", "crash"}
    assert "HTTP 500" in str(res.errors["crash"])
    assert "malformed JSON" in str(res.errors["html"])
    assert isinstance(res.errors["html"], ProviderError)
    assert isinstance(res.errors["slow"], ProviderTimeout)
    assert {e.provider for e in res} == {"good"}
