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


def _overlaps(box, other):
    """Brute-force footprint test, written apart from gaia_lab: longitudes as spans, west > east crossing 180."""

    def spans(west, east):
        return [(west, 180.0), (-180.0, east)] if west > east else [(west, east)]

    if box[1] > other[3] or other[1] > box[3]:
        return False
    return any(w1 <= e2 and w2 <= e1 for w1, e1 in spans(box[0], box[2]) for w2, e2 in spans(other[0], other[2]))


@pytest.mark.parametrize(
    "bbox",
    [
        (-30, -10, -20, 10),  # tropical Atlantic: OSTIA, the global grids, not Europe's land mask
        (0, 40, 10, 50),  # France: the land mask, not OSTIA's tropical band
        (100, 60, 110, 70),  # Siberia: longitudes matter, Europe's tiles and Brazil's Landsat scene are elsewhere
        (170, -5, -170, 5),  # across the antimeridian
    ],
)
def test_bbox_filter_equals_a_brute_force_filter(lake_catalog, bbox):
    everything = lake_catalog.search(limit=1000)
    expected = {e.id for e in everything if e.bbox is None or _overlaps(bbox, e.bbox)}
    found = {e.id for e in lake_catalog.search(bbox=bbox, limit=1000)}
    assert found == expected
    assert 0 < len(found) < len(everything)  # the box keeps some entries and drops others


def test_datetime_filter_equals_a_brute_force_filter(lake_catalog):
    everything = lake_catalog.search(limit=1000)
    old = {e.id for e in lake_catalog.search(datetime="../1900-01-01", limit=1000)}
    expected = {e.id for e in everything if e.datetime is None or e.datetime[0] is None or e.datetime[0].year < 1900}
    assert old == expected
    assert 0 < len(old) < len(everything)
    recent = {e.id for e in lake_catalog.search(datetime="2009/2010", limit=1000)}
    assert "odatis/ostia-sst" in recent and "aeris/tmy3-stations" not in recent


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
