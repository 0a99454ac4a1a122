"""Federated search against real STAC API servers (pgstac on PostgreSQL/PostGIS, geoparquet) and the static lake,
with faulty providers on real sockets: partial results, typed errors, bounded time."""

from __future__ import annotations

import time

import pytest
import yaml
from fault_servers import Fault

import gaia_lab as gl
from gaia_lab.catalog.providers.stac_convert import EncodedItem
from gaia_lab.errors import ProviderAuthError, ProviderError, ProviderTimeout

pytestmark = pytest.mark.slow


def lake_providers(lake_dir):
    document = yaml.safe_load((lake_dir / "federation.yaml").read_text())
    for provider in document["providers"]:
        provider["url"] = str(lake_dir / provider["url"])
    return document["providers"]


def api(name, url, hub="ocean", timeout=20):
    return {"name": name, "hub": hub, "type": "stac", "url": url, "timeout": timeout}


@pytest.fixture(scope="module")
def api_catalog(pgstac_api, geoparquet_api):
    return gl.open_catalog({"providers": [api("pgstac", pgstac_api.url), api("geoparquet", geoparquet_api.url)]})


def test_apis_are_detected_and_list_the_lake(api_catalog, lake_catalog):
    results = api_catalog.search(limit=1000)
    assert not results.errors, results.errors
    assert {p.kind for p in api_catalog.providers} == {"stac-api"}
    static_ids = {e.local_id for e in lake_catalog.search(limit=1000) if e.provider != "climeri-esm"}
    served = {e.local_id for e in results}
    assert served == static_ids
    mirrored = [e for e in results if e.mirrors]  # the same collection in both servers is listed once
    assert mirrored and all(m.startswith("geoparquet/") for e in mirrored for m in e.mirrors)


@pytest.mark.parametrize("text", ["SST", "température de surface de la mer", "sea_surface_temperature"])
def test_thesaurus_finds_the_same_entries_through_apis(api_catalog, text):
    results = api_catalog.search(text, hubs=["ocean"])
    assert {e.local_id for e in results} == {"ostia-sst", "ostia-sst-monthly", "ostia-sst-virtual"}


def test_entries_from_apis_open_as_cubes_equal_to_the_static_ones(api_catalog, lake_catalog):
    query = {"bbox": (-40, -5, -10, 5), "datetime": "2008-01/2008-06"}
    served = api_catalog["pgstac/ostia-sst-monthly"].to_xarray(**query)
    static = lake_catalog["odatis/ostia-sst-monthly"].to_xarray(**query)
    assert served.sizes["time"] == 6
    assert float(served["sst"].mean()) == float(static["sst"].mean())
    zarr_cube = api_catalog["geoparquet/sres-a1b-tas"].to_xarray(datetime="2050")
    assert zarr_cube["tas"].shape[0] == 1


def test_item_search_pages_through_the_server(api_catalog):
    results = api_catalog.search(items=True, collections=["ostia-sst-monthly"], providers=["pgstac"], limit=100)
    assert len(results) == 54  # the server pages (10 per page by default) and every page is followed
    assert {e.kind for e in results} == {"item"}
    # Items stay encoded until opened, and decode to what the server sent.
    march = next(e for e in results if e.local_id == "ostia-sst-monthly/ostia-sst-2008-03")
    assert isinstance(march.source, EncodedItem)
    item = march.source.item()
    assert item.id == "ostia-sst-2008-03"
    assert item.properties["title"] == march.title
    cube = march.to_xarray()
    assert cube.sizes["time"] == 1
    assert str(cube.time.values[0]).startswith("2008-03")


def test_cql2_filter_runs_on_the_server_or_falls_back(api_catalog, lake_catalog):
    cql2 = {"op": "=", "args": [{"property": "title"}, "OSTIA SST March 2008"]}
    for catalog in (api_catalog, lake_catalog):
        results = catalog.search(items=True, collections=["ostia-sst-monthly"], filter=cql2, limit=100)
        assert not results.errors, results.errors
        assert {e.local_id for e in results} == {"ostia-sst-monthly/ostia-sst-2008-03"}


def test_every_hub_answers_in_one_federated_search(lake_dir, pgstac_api):
    catalog = gl.open_catalog({"providers": [*lake_providers(lake_dir), api("pgstac", pgstac_api.url)]})
    results = catalog.search(limit=1000)
    assert not results.errors
    assert {"ocean", "atmosphere", "land", "solid-earth", "climate"} <= {e.hub for e in results}
    assert "climeri-esm" in results.providers  # intake-esm datastores are searched alongside STAC


def _with(lake_dir, extra):
    return gl.open_catalog({"providers": [*lake_providers(lake_dir)[:2], extra]})


def test_a_provider_past_its_timeout_gives_partial_results_in_time(lake_dir, slow_api):
    catalog = _with(lake_dir, api("slow", slow_api.url, timeout=1.0))
    started = time.monotonic()
    results = catalog.search(limit=1000)
    elapsed = time.monotonic() - started
    assert elapsed < 1.0 + 1.0, elapsed
    assert isinstance(results.errors["slow"], ProviderTimeout)
    assert "slow" in str(results.errors["slow"])
    assert {"odatis", "aeris"} <= set(results.providers)


@pytest.mark.parametrize(
    ("fixture", "error_type", "words"),
    [
        ("broken_json_api", ProviderError, "malformed"),
        ("error_500_api", ProviderError, "500"),
        ("unauthorized_api", ProviderAuthError, "401"),
        ("forbidden_api", ProviderAuthError, "403"),
    ],
)
def test_faulty_providers_are_reported_not_raised(request, lake_dir, fixture, error_type, words):
    server = request.getfixturevalue(fixture)
    results = _with(lake_dir, api("faulty", server.url, timeout=5)).search(limit=1000)
    error = results.errors["faulty"]
    assert isinstance(error, error_type)
    assert words in str(error)
    assert error.provider == "faulty"
    assert len(results) > 0


def test_a_stopped_server_is_reported(lake_dir, stopped_api_url):
    results = _with(lake_dir, api("gone", stopped_api_url, timeout=5)).search(limit=1000)
    assert isinstance(results.errors["gone"], ProviderError)
    assert "unreachable" in str(results.errors["gone"])


def test_transient_errors_are_retried_with_backoff(lake_dir, flaky_503_api):
    results = _with(lake_dir, api("flaky", flaky_503_api.url, timeout=10)).search(limit=1000)
    assert "flaky" not in results.errors, results.errors
    assert flaky_503_api.faults_served == 2
    assert "flaky" in results.providers


def test_slowest_provider_bounds_the_search(lake_dir, fault_server):
    servers = [fault_server(Fault("sleep", delay=1.5, paths=("/collections",))) for _ in range(3)]
    catalog = gl.open_catalog({"providers": [api(f"slow-{i}", s.url, timeout=10) for i, s in enumerate(servers)]})
    started = time.monotonic()
    results = catalog.search(limit=1000)
    elapsed = time.monotonic() - started
    assert not results.errors, results.errors
    assert sorted(results.timings) == ["slow-0", "slow-1", "slow-2"]
    assert len(results[0].mirrors) == 2  # the three servers list the same collection: one entry, two mirrors
    assert elapsed < 3.0, elapsed  # concurrent: about one delay, not three
