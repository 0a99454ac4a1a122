"""EODAG as a federation member (type: eodag), against real servers on 127.0.0.1: the demo lake served by
stac-fastapi-pgstac and reached through EODAG's generic STAC search plugin, beside the static lake, the intake-esm
datastore and the plain STAC API provider; faults from the fault servers and a token-checking proxy."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import xarray as xr
import yaml
from fault_servers import Fault

import gaia_lab as gl
from gaia_lab.catalog.providers.stac_convert import EncodedItem
from gaia_lab.errors import ConfigError, EntryNotFound, ProviderAuthError, ProviderError, ProviderTimeout

pytestmark = pytest.mark.slow

MONTHLY = "ostia-sst-monthly"
MONTHLY_ITEMS = 54  # OSTIA monthly means, 2006-04 .. 2010-09, in the demo lake


@pytest.fixture(scope="module", autouse=True)
def eodag_config_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """EODAG writes its user configuration into $EODAG_CFG_DIR (else ~/.config/eodag): a private one here."""
    directory = tmp_path_factory.mktemp("eodag-config")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EODAG_CFG_DIR", str(directory))
        yield directory


def via_eodag(name, url, product_type=MONTHLY, timeout=20, **extra):
    return {
        "name": name,
        "hub": "ocean",
        "type": "eodag",
        "eodag_provider": name.replace("-", "_"),
        "product_type": product_type,
        "url": url,
        "timeout": timeout,
        **extra,
    }


def lake_providers(lake_dir):
    document = yaml.safe_load((lake_dir / "federation.yaml").read_text())
    for provider in document["providers"]:
        provider["url"] = str(lake_dir / provider["url"])
    return document["providers"]


@pytest.fixture(scope="module")
def eodag_catalog(pgstac_api):
    return gl.open_catalog(
        {
            "providers": [
                via_eodag("lake-eodag", pgstac_api.url),
                {"name": "pgstac", "hub": "ocean", "type": "stac", "url": pgstac_api.url, "timeout": 20},
            ]
        }
    )


def test_eodag_searches_the_stac_api_and_maps_products_to_entries(eodag_catalog, lake_stac, eodag_config_dir):
    results = eodag_catalog.search(providers=["lake-eodag"], datetime="2008-01/2008-06", limit=100)
    assert not results.errors, results.errors
    served = {item["id"]: item for item in lake_stac.items_of(MONTHLY)}
    months = ["2008-01", "2008-02", "2008-03", "2008-04", "2008-05", "2008-06"]
    assert sorted(e.local_id for e in results) == [f"{MONTHLY}/ostia-sst-{m}" for m in months]
    provider = eodag_catalog.provider("lake-eodag")
    assert provider.kind == "eodag"
    for entry in results:
        item = served[entry.local_id.split("/")[1]]
        assert entry.kind == "item"
        assert entry.title == item["properties"]["title"]  # the item's title, not EODAG's default (its id)
        assert set(entry.assets) == set(item["assets"])  # asset keys as the server has them
        assert entry.datetime[0].isoformat().startswith(item["properties"]["start_datetime"][:10])
        assert entry.bbox is not None
        assert isinstance(entry.source, EncodedItem)
        assert entry.source.item().properties["proj:code"] == "EPSG:4326"
    # EODAG's configuration went to $EODAG_CFG_DIR, not the user's home.
    assert (eodag_config_dir / "eodag.yml").exists()


def test_bbox_datetime_and_collections_reach_eodag(eodag_catalog):
    inside = eodag_catalog.search(providers=["lake-eodag"], bbox=(-30, -4, 30, 4), datetime="2010", limit=100)
    assert not inside.errors, inside.errors
    assert len(inside) == 9  # 2010-01 .. 2010-09
    outside = eodag_catalog.search(providers=["lake-eodag"], bbox=(0, 40, 10, 50), limit=100)
    assert not outside.errors, outside.errors
    assert len(outside) == 0  # the items lie within 5 degrees of the equator
    other = eodag_catalog.search(providers=["lake-eodag"], collections=["ostia-sst"], limit=100)
    assert len(other) == 0 and not other.errors  # another product type than the one configured


def test_eodag_pages_follow_the_server(pgstac_api):
    # EODAG's own setting of the largest page a provider serves: 10 items a page here.
    paged = via_eodag("paged", pgstac_api.url, eodag_config={"search": {"pagination": {"max_limit": 10}}})
    catalog = gl.open_catalog({"providers": [paged]})
    every = catalog.search(limit=1000)
    assert not every.errors, every.errors
    assert len({e.id for e in every}) == MONTHLY_ITEMS  # six pages of 10 followed
    assert catalog.provider("paged")._page_size == 10
    some = catalog.search(limit=25)
    assert len(some) == 25


def test_concurrent_searches_share_one_eodag_instance(eodag_catalog):
    provider = eodag_catalog.provider("lake-eodag")
    windows = ["2006", "2007", "2008", "2009", "2010"] * 2

    def search(year):
        return sorted(e.id for e in eodag_catalog.search(providers=["lake-eodag"], datetime=year, limit=100))

    with ThreadPoolExecutor(len(windows)) as pool:
        found = list(pool.map(search, windows))
    gateway = provider.gateway
    assert provider.gateway is gateway  # created once
    expected = {"2006": 9, "2007": 12, "2008": 12, "2009": 12, "2010": 9}
    for year, ids in zip(windows, found, strict=True):
        assert len(ids) == expected[year], (year, ids)
        assert all(f"/ostia-sst-{year}-" in i for i in ids)


def test_entry_found_through_eodag_opens_like_the_stac_api_item(eodag_catalog):
    found = eodag_catalog.search(providers=["lake-eodag"], datetime="2008-03", limit=10)
    (entry,) = list(found)
    assert entry.id == f"lake-eodag/{MONTHLY}/ostia-sst-2008-03"
    through_eodag = entry.to_xarray(bbox=(-40, -5, -10, 5))
    plain = eodag_catalog[f"pgstac/{MONTHLY}/ostia-sst-2008-03"].to_xarray(bbox=(-40, -5, -10, 5))
    assert through_eodag.attrs["gaia:provider"] == "lake-eodag"
    assert list(through_eodag.data_vars) == ["sst"]
    xr.testing.assert_equal(through_eodag.compute(), plain.compute())
    # The same entry by id, searched by EODAG's search-by-id.
    again = eodag_catalog[entry.id]
    assert again.title == entry.title
    assert again.assets == entry.assets
    with pytest.raises(EntryNotFound, match="no product 'ostia-sst-1999-01'"):
        eodag_catalog[f"lake-eodag/{MONTHLY}/ostia-sst-1999-01"]
    with pytest.raises(EntryNotFound, match="look like 'lake-eodag/ostia-sst-monthly/<product id>'"):
        eodag_catalog["lake-eodag/ostia-sst"]


def test_one_query_answered_by_every_protocol(lake_dir, pgstac_api, pycsw_server, records_server):
    """STAC API + static STAC + intake-esm + EODAG + CSW + OGC API - Records, each a real server or file."""
    catalog = gl.open_catalog(
        {
            "providers": [
                *lake_providers(lake_dir),
                {"name": "pgstac", "hub": "ocean", "type": "stac", "url": pgstac_api.url, "timeout": 20},
                via_eodag("lake-eodag", pgstac_api.url),
                {"name": "sextant", "hub": "ocean", "type": "csw", "url": pycsw_server.url, "timeout": 20},
                {"name": "records", "hub": "ocean", "type": "ogcapi-records", "url": records_server.url, "timeout": 20},
            ]
        }
    )
    kinds = {p.name: p.type for p in catalog.providers}
    assert {"stac", "intake-esm", "eodag", "csw", "ogcapi-records"} <= set(kinds.values())
    # From 2006: pygeoapi's Records compare a datetime with the records' start only (the lake's OSTIA starts 2006-04).
    results = catalog.search(datetime="2006-01-01/2008-12-31", limit=1000)
    assert not results.errors, results.errors
    answered = set(results.providers) | {m.split("/")[0] for e in results for m in e.mirrors}
    assert {"odatis", "pgstac", "climeri-esm", "lake-eodag", "sextant", "records"} <= answered
    from_eodag = [e for e in results if e.provider == "lake-eodag"]
    assert len(from_eodag) == 33 and {e.kind for e in from_eodag} == {"item"}  # 2006-04 .. 2008-12, monthly
    # Text relevance applies to every provider's entries alike, in French as in English.
    sst = catalog.search("température de la mer", datetime="2006-01-01/2008-12-31", limit=1000)
    assert not sst.errors, sst.errors
    answered = set(sst.providers) | {m.split("/")[0] for e in sst for m in e.mirrors}
    assert {"odatis", "pgstac", "lake-eodag", "sextant", "records"} <= answered
    assert "climeri-esm" not in answered  # air temperature runs: not the sea's


# -- configuration -----------------------------------------------------------------------------------------------


def test_eodag_config_is_validated():
    base = {"name": "e", "hub": "ocean", "type": "eodag"}
    with pytest.raises(ConfigError, match="eodag_provider"):
        gl.open_catalog({"providers": [{**base, "product_type": "S2_MSI_L1C"}]})
    with pytest.raises(ConfigError, match="product_type"):
        gl.open_catalog({"providers": [{**base, "eodag_provider": "earth_search"}]})
    with pytest.raises(ConfigError, match="eodag_provider 'bad name'"):
        gl.open_catalog({"providers": [{**base, "eodag_provider": "bad name", "product_type": "x"}]})
    # A provider EODAG knows needs no url.
    catalog = gl.open_catalog({"providers": [{**base, "eodag_provider": "earth_search", "product_type": "S2_MSI_L1C"}]})
    assert catalog.providers[0].url == "eodag:earth_search"


def test_a_provider_eodag_knows_takes_overrides_from_eodag_config(fault_server):
    # earth_search as EODAG configures it (its product types, its STAC mapping), its endpoint moved to 127.0.0.1.
    local = fault_server(Fault("none"))
    overrides = {"search": {"api_endpoint": f"{local.url}/search"}}
    catalog = gl.open_catalog(
        {
            "providers": [
                {
                    "name": "earth-search",
                    "hub": "imagery",
                    "type": "eodag",
                    "eodag_provider": "earth_search",
                    "product_type": "COP_DEM_GLO30_DGED",
                    "eodag_config": overrides,
                },
                {
                    "name": "earth-search-s2",
                    "hub": "imagery",
                    "type": "eodag",
                    "eodag_provider": "earth_search",
                    "product_type": "S2_MSI_L1C",
                    "eodag_config": overrides,
                },
            ]
        }
    )
    results = catalog.search(limit=10)
    assert ("POST", "/search") in local.requests
    assert [e.id for e in results] == ["earth-search/COP_DEM_GLO30_DGED/fault-item"]
    # EODAG maps Sentinel-2 ids from s2:product_uri, which this server's item lacks: said, not a KeyError.
    assert set(results.errors) == {"earth-search-s2"}
    assert "has no id through EODAG's metadata mapping of 'earth_search'" in str(results.errors["earth-search-s2"])


def test_credentials_come_from_the_environment_only(monkeypatch):
    secret = {"auth": {"type": "GenericAuth", "credentials": {"username": "me", "password": "hunter2"}}}
    entry = {**via_eodag("e", "http://127.0.0.1:9"), "eodag_config": secret}
    with pytest.raises(ConfigError, match=r"credentials \['password', 'username'\] are written in the file"):
        gl.open_catalog({"providers": [entry]})
    monkeypatch.setenv("E_USER", "me")
    monkeypatch.setenv("E_PASSWORD", "hunter2")
    credentials = {"username": "${E_USER}", "password": "${E_PASSWORD}"}
    referenced = {"auth": {"type": "GenericAuth", "credentials": credentials}}
    catalog = gl.open_catalog({"providers": [{**entry, "eodag_config": referenced}]})
    assert catalog.providers[0].config.eodag_config["auth"]["credentials"] == {"username": "me", "password": "hunter2"}


def test_unknown_provider_and_product_type_are_named(pgstac_api):
    catalog = gl.open_catalog(
        {
            "providers": [
                {"name": "nowhere", "hub": "ocean", "type": "eodag", "eodag_provider": "nobody", "product_type": "x"},
                via_eodag("wrong-type", pgstac_api.url, product_type="no-such-collection"),
                via_eodag("lake-eodag", pgstac_api.url),
            ]
        }
    )
    results = catalog.search(limit=5)
    assert set(results.errors) == {"nowhere", "wrong-type"}
    assert isinstance(results.errors["nowhere"], ConfigError)
    assert "eodag_provider 'nobody' is not one of EODAG's providers" in str(results.errors["nowhere"])
    assert "earth_search" in str(results.errors["nowhere"])  # the message lists the providers EODAG has
    wrong = results.errors["wrong-type"]
    assert isinstance(wrong, ProviderError)
    assert "product_type 'no-such-collection'" in str(wrong) and MONTHLY in str(wrong)
    assert len(results) == 5 and results.providers == ["lake-eodag"]  # the others answered


# -- faults ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("fixture", "status"), [("unauthorized_api", 401), ("forbidden_api", 403)])
def test_auth_failure_lands_in_errors_while_others_answer(request, pgstac_api, fixture, status):
    refusing = request.getfixturevalue(fixture)
    catalog = gl.open_catalog(
        {
            "providers": [
                via_eodag("refused", refusing.url, product_type="fault-collection"),
                via_eodag("lake-eodag", pgstac_api.url),
            ]
        }
    )
    started = time.monotonic()
    results = catalog.search(limit=10)
    assert time.monotonic() - started < 10  # a refusal is not retried
    error = results.errors["refused"]
    assert isinstance(error, ProviderAuthError)
    assert error.status == status and "'refused'" in str(error)
    assert "Traceback" not in str(error)
    assert len(results) == 10 and results.providers == ["lake-eodag"]


@pytest.mark.parametrize(
    ("fixture", "expected", "text"),
    [
        ("error_500_api", ProviderError, "HTTP 500"),
        ("broken_json_api", ProviderError, "malformed"),
        ("slow_api", ProviderTimeout, "within"),
    ],
)
def test_server_faults_land_in_errors(request, lake_dir, fixture, expected, text):
    faulty = request.getfixturevalue(fixture)
    catalog = gl.open_catalog(
        {
            "providers": [
                {**lake_providers(lake_dir)[0], "timeout": 3},
                via_eodag("faulty", faulty.url, product_type="fault-collection", timeout=2),
            ]
        }
    )
    started = time.monotonic()
    results = catalog.search(limit=100)
    assert time.monotonic() - started < 5  # bounded by the longest timeout in the federation
    error = results.errors["faulty"]
    assert isinstance(error, expected), repr(error)
    assert text in str(error) and "'faulty'" in str(error)
    assert results.providers == ["odatis"]


class _TokenProxy(BaseHTTPRequestHandler):
    """A STAC API that wants ``Authorization: Bearer <token>``: checks it, then forwards to the real server."""

    upstream = ""
    token = ""
    seen: list[str | None]

    def log_message(self, format, *args):
        pass

    def _forward(self, body=None):
        self.seen.append(self.headers.get("Authorization"))
        if self.headers.get("Authorization") != f"Bearer {self.token}":
            self._answer(401, b'{"code": "401", "description": "token required"}')
            return
        headers = {"Content-Type": "application/json"}
        request = urllib.request.Request(self.upstream + self.path, data=body, method=self.command, headers=headers)
        with urllib.request.urlopen(request, timeout=10) as response:
            own = f"http://{self.server.server_address[0]}:{self.server.server_address[1]}"
            self._answer(response.status, response.read().replace(self.upstream.encode(), own.encode()))

    def _answer(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self._forward()

    def do_POST(self):
        self._forward(self.rfile.read(int(self.headers.get("Content-Length", 0))))


@pytest.fixture
def token_api(pgstac_api):
    handler = type("Handler", (_TokenProxy,), {"upstream": pgstac_api.url.rstrip("/"), "token": "t0k3n", "seen": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler.seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_headers_from_the_environment_authenticate_eodag(token_api, monkeypatch):
    url, seen = token_api
    monkeypatch.setenv("LAKE_TOKEN", "t0k3n")
    good = via_eodag("with-token", url, headers={"Authorization": "Bearer ${LAKE_TOKEN}"})
    bad = via_eodag("wrong-token", url, headers={"Authorization": "Bearer guessed"})
    catalog = gl.open_catalog({"providers": [good, bad]})
    results = catalog.search(limit=5)
    assert set(results.errors) == {"wrong-token"}
    assert isinstance(results.errors["wrong-token"], ProviderAuthError)
    assert len(results) == 5 and results.providers == ["with-token"]
    assert "Bearer t0k3n" in seen and "Bearer guessed" in seen
    assert json.dumps(results.errors["wrong-token"].args).find("guessed") == -1  # the secret is not echoed
