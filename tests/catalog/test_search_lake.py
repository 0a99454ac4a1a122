"""Federated search over the demo lake's static catalogues: every hub answers, the thesaurus bridges languages."""

from __future__ import annotations

import pytest

from gaia_lab.errors import InvalidQuery

HUBS = {"ocean", "atmosphere", "land", "solid-earth", "climate"}


def test_an_empty_query_lists_every_hub(lake_catalog):
    results = lake_catalog.search(limit=1000)
    assert not results.errors
    assert {e.hub for e in results} >= HUBS
    assert {p.name for p in lake_catalog.providers} <= set(results.providers) | {
        p.name for p in lake_catalog.providers if p.type != "stac"
    }


@pytest.mark.parametrize(
    "text", ["SST", "sea surface temperature", "température de surface de la mer", "sea_surface_temperature"]
)
def test_sst_finds_the_same_ocean_entries_in_both_languages(lake_catalog, text):
    results = lake_catalog.search(text)
    ids = [e.id for e in results]
    assert ids, text
    assert results[0].hub == "ocean"
    reference = [e.id for e in lake_catalog.search("sea surface temperature")]
    assert set(ids) == set(reference)
    assert "sea_surface_temperature" in results.query_terms


@pytest.mark.parametrize("text", ["relief", "topographie", "elevation", "altitude"])
def test_relief_synonyms_find_elevation_data(lake_catalog, text):
    results = lake_catalog.search(text)
    assert results, text
    assert results[0].hub in {"solid-earth", "land"}


def test_bbox_and_datetime_filter_on_metadata(lake_catalog):
    everything = lake_catalog.search(limit=1000)
    tropics = lake_catalog.search(bbox=(-30, -10, -20, 10), limit=1000)
    assert 0 < len(tropics) <= len(everything)
    for entry in tropics:
        _west, south, _east, north = entry.bbox
        assert south <= 10 and north >= -10
    old = lake_catalog.search(datetime="../1900-01-01", limit=1000)
    for entry in old:
        assert entry.datetime[0] is None or entry.datetime[0].year <= 1900


def test_hub_filter_and_unknown_hub(lake_catalog):
    ocean = lake_catalog.search(hubs=["ocean"])
    assert ocean and {e.hub for e in ocean} == {"ocean"}
    with pytest.raises(InvalidQuery, match="hub"):
        lake_catalog.search(hubs=["moon"])


def test_results_tabulate(lake_catalog):
    frame = lake_catalog.search("temperature").to_dataframe()
    assert {"id", "provider", "hub", "title", "start", "end"} <= set(frame.columns)
    assert len(frame) > 0


def test_every_search_result_opens(lake_catalog):
    for entry in lake_catalog.search(limit=1000):
        ds = entry.to_xarray()
        assert ds.data_vars, entry.id
