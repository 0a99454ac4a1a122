"""The thesaurus: published vocabularies (CF, GCMD, GEMET) and the gaia-lab layer, query expansion through their
hierarchy, the ranking rule, keywords of ISO records resolved through GCMD, and `search --explain`."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pystac
import pytest

import gaia_lab as gl
from gaia_lab.catalog import Entry
from gaia_lab.catalog.ranking import explain, rank, score
from gaia_lab.catalog.thesaurus import Thesaurus, load_thesaurus, normalize
from gaia_lab.errors import ConfigError


def test_normalize_folds_accents_case_and_underscores():
    assert normalize("Température_de Surface") == "temperature de surface"
    assert normalize("EARTH SCIENCE > OCEANS") == "earth science oceans"


# -- the published vocabularies --------------------------------------------------------------------------------


def test_the_whole_cf_table_with_aliases_and_units():
    thesaurus = load_thesaurus()
    thesaurus.expand("sea water temperature")  # loads the vocabularies
    assert thesaurus.sources["CF"]["package"].startswith("compliance-checker==")
    published = thesaurus._published
    assert published is not None
    cf = [c for c in map(published.concept, published.ids("CF")) if c is not None]
    assert len(cf) > 5000
    sea_water = thesaurus.concept("CF:sea_water_temperature")
    assert sea_water is not None and sea_water.units == "K"
    with_alias = next(c for c in cf if len(c.labels) > 1)
    alias = with_alias.labels[1]
    assert thesaurus.concept_of(alias) == with_alias  # an alias is a label of the current name
    assert alias in thesaurus.cf_names(with_alias.label)


def test_gcmd_keywords_form_a_hierarchy():
    thesaurus = load_thesaurus()
    thesaurus.expand("x y")
    ocean_temperature = thesaurus.concept("GCMD:EARTH SCIENCE > OCEANS > OCEAN TEMPERATURE")
    assert ocean_temperature is not None and ocean_temperature.broader == ("GCMD:EARTH SCIENCE > OCEANS",)
    children = {c.label for c in thesaurus._narrower(ocean_temperature)}
    assert {"SEA SURFACE TEMPERATURE", "WATER TEMPERATURE", "THERMOCLINE"} <= children
    assert thesaurus.sources["GCMD"]["package"].startswith("pythesint==")


def test_gemet_gives_french_labels_and_its_own_hierarchy():
    thesaurus = load_thesaurus()
    expansion = thesaurus.expand("humidité du sol")
    assert "GEMET:7874" in [c.id for c in expansion.concepts]
    gemet = thesaurus.concept("GEMET:7874")
    assert gemet is not None and gemet.label == "humidité du sol" and gemet.broader


def test_cf_names_meet_gcmd_keywords_in_the_same_medium():
    thesaurus = load_thesaurus()
    thesaurus.expand("x y")
    water = thesaurus.concept("GCMD:EARTH SCIENCE > OCEANS > OCEAN TEMPERATURE > WATER TEMPERATURE")
    assert water is not None
    linked = {c.label for c in thesaurus._links(water)}
    assert "sea_water_temperature" in linked
    potential = thesaurus.concept("GCMD:EARTH SCIENCE > OCEANS > OCEAN TEMPERATURE > POTENTIAL TEMPERATURE")
    assert potential is not None
    names = {c.label for c in thesaurus._links(potential)}
    assert "sea_water_potential_temperature" in names and "air_potential_temperature" not in names


# -- expansion -----------------------------------------------------------------------------------------------------


def test_french_sea_temperature_goes_down_the_gcmd_hierarchy_and_keeps_its_own_words():
    expansion = load_thesaurus().expand("température de la mer")
    terms = {(t.term, t.vocabulary, t.relation) for t in expansion.query_terms}
    assert ("température de la mer", "query", "literal") in terms  # as typed
    assert ("OCEAN TEMPERATURE", "GCMD", "synonym") in terms
    assert ("sea_water_temperature", "CF", "synonym") in terms
    assert ("température de l'océan", "GEMET", "synonym") in terms
    assert ("SEA SURFACE TEMPERATURE", "GCMD", "narrower") in terms
    assert ("sea_surface_temperature", "CF", "narrower") in terms
    assert ("WATER TEMPERATURE", "GCMD", "narrower") in terms
    assert ("OCEANS", "GCMD", "broader") in terms
    # a narrower GCMD concept brings the gaia-lab words that link to it (item titles say "SST")
    assert ("SST", "gaia-lab", "narrower") in terms
    # strongest relation first; Query.terms stays a list of strings for server-side text filters
    relations = [t.relation for t in expansion.query_terms]
    assert relations == sorted(relations, key=["literal", "synonym", "narrower", "broader"].index)
    assert all(type(t) is str for t in expansion.terms)
    term = expansion.query_terms[1]
    assert pickle.loads(pickle.dumps(term)).to_dict() == term.to_dict()  # results travel to other processes


@pytest.mark.parametrize(
    "text", ["SST", "sea surface temperature", "température de surface de la mer", "sea_surface_temperature", "TSM"]
)
def test_sst_in_both_languages_reaches_the_same_concept(text):
    expansion = load_thesaurus().expand(text)
    assert "sea_surface_temperature" in [c.id for c in expansion.concepts]
    assert "sea_surface_temperature" in expansion.terms
    assert "température de surface de la mer" in expansion.terms


@pytest.mark.parametrize(
    ("text", "concept"),
    [
        ("relief", "elevation"),
        ("topographie", "elevation"),
        ("elevation", "elevation"),
        ("MNT", "elevation"),
        ("précipitations", "precipitation"),
        ("precipitations", "precipitation"),
        ("rainfall", "precipitation"),
        ("température de l'air", "air_temperature"),
        ("vent", "wind"),
        ("infrarouge", "brightness_temperature"),
        ("géoïde", "geoid"),
        ("épaisseur optique des aérosols", "aerosol_optical_depth"),
        ("aerosol optical thickness", "GCMD:EARTH SCIENCE > ATMOSPHERE > AEROSOLS > AEROSOL OPTICAL DEPTH/THICKNESS"),
        ("chlorophylle", "GEMET:1391"),
        ("land cover", "GCMD:EARTH SCIENCE > LAND SURFACE > LAND USE/LAND COVER"),
    ],
)
def test_french_and_english_synonyms(text, concept):
    assert concept in [c.id for c in load_thesaurus().expand(text).concepts]


def test_leftover_words_are_kept_without_stopwords():
    expansion = load_thesaurus().expand("SST of the Atlantic")
    assert expansion.words == ("atlantic",)
    assert ("Atlantic", "query", "literal") in {(t.term, t.vocabulary, t.relation) for t in expansion.query_terms}


def test_extension_files_merge_by_concept_id(tmp_path):
    extra = tmp_path / "hub.yaml"
    extra.write_text("concepts:\n  - id: elevation\n    fr: [orographie]\n  - id: ice_shelf\n    en: [ice shelf]\n")
    thesaurus = Thesaurus.from_files([extra])
    assert "elevation" in [c.id for c in thesaurus.expand("orographie").concepts]
    assert "relief" in thesaurus.concepts["elevation"].terms
    assert thesaurus.expand("ice shelf").concepts[0].id == "ice_shelf"


def test_malformed_extension_is_a_config_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("concepts:\n  - id: x\n    de: [Wasser]\n")
    with pytest.raises(ConfigError, match="unknown keys"):
        Thesaurus.from_files([bad])


def test_opening_is_cheap_and_expanding_takes_milliseconds():
    """The vocabularies load at the first expansion, once per process; then each expansion is a few lookups."""
    thesaurus = Thesaurus.from_files([])
    assert "_published" not in thesaurus.__dict__  # nothing read yet
    started = time.perf_counter()
    thesaurus.expand("température de la mer")
    first = time.perf_counter() - started
    queries = ["température de la mer", "sea surface temperature", "humidité du sol", "MNT", "aerosol optical depth"]
    started = time.perf_counter()
    for _ in range(20):
        for query in queries:
            thesaurus.expand(query)
    each = (time.perf_counter() - started) / (20 * len(queries))
    assert first < 2.0
    assert each < 0.01, f"{each * 1000:.2f} ms per expansion"


# -- ISO keywords through GCMD -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("keyword", "thesaurus_title"),
    [
        ("EARTH SCIENCE > OCEANS > OCEAN TEMPERATURE > SEA SURFACE TEMPERATURE", None),
        ("Earth Science > Oceans > Ocean Temperature > Sea Surface Temperature", "NASA/GCMD Earth Science Keywords"),
        ("OCEANS > OCEAN TEMPERATURE > SEA SURFACE TEMPERATURE", "GCMD Science Keywords"),
        ("SEA SURFACE TEMPERATURE", "Global Change Master Directory (GCMD) Science Keywords"),
    ],
)
def test_gcmd_keywords_resolve_to_their_concept(keyword, thesaurus_title):
    concept = load_thesaurus().resolve_keyword(keyword, thesaurus_title)
    assert concept is not None and concept.endswith("OCEAN TEMPERATURE > SEA SURFACE TEMPERATURE")


def test_other_keywords_do_not_resolve():
    thesaurus = load_thesaurus()
    assert thesaurus.resolve_keyword("sea surface temperature", "GEMET - INSPIRE themes") is None
    assert thesaurus.resolve_keyword("Oceanographic geographical features", None) is None


def _entry(local_id: str, title: str, **fields: object) -> Entry:
    return Entry(id=f"test/{local_id}", provider="test", hub="ocean", title=title, **fields)  # type: ignore[arg-type]


def test_an_iso_keyword_from_a_gcmd_thesaurus_matches_through_its_concept():
    path = "EARTH SCIENCE > OCEANS > OCEAN TEMPERATURE > SEA SURFACE TEMPERATURE"
    record = _entry("sextant-1", "Bay of Biscay reanalysis", keywords=[path], keyword_thesauri={path: "GCMD"})
    expansion = load_thesaurus().expand("température de la mer")
    points, reasons = explain(record, expansion)
    assert points > 0
    reason = next(m for m in reasons if m.field == "keywords")
    assert reason.term.relation == "narrower" and reason.keyword_concept == f"GCMD:{path}"
    # the path's ancestors are context: a query for the parent concept does not find the keyword as literal text
    parent = explain(record, load_thesaurus().expand("ocean temperature"))[1]
    assert {m.term.relation for m in parent} == {"narrower"}


# -- ranking --------------------------------------------------------------------------------------------------


def test_ranking_exact_phrase_then_words_then_synonyms_then_narrower_then_broader():
    entries = {
        "phrase": _entry("a", "Température de la mer en Méditerranée"),
        "words": _entry("b", "Mer du Nord, température"),
        "synonym": _entry("c", "Ocean climatology", variables=["sea_water_temperature"]),
        "narrower": _entry("d", "Satellite product", keywords=["SEA SURFACE TEMPERATURE"]),
        "broader": _entry("e", "Satellite product", keywords=["Oceans"]),
        "none": _entry("f", "Air temperature reanalysis", variables=["air_temperature"]),
    }
    expansion = load_thesaurus().expand("température de la mer")
    for entry in entries.values():
        entry.score = score(entry, expansion)
    assert entries["none"].score == 0  # a stray word of the phrase does not make a match
    ranked = rank([e for e in entries.values() if e.score > 0])
    assert [e.local_id for e in ranked] == ["a", "b", "c", "d", "e"]
    assert [explain(e, expansion)[1][0].term.relation for e in ranked[2:]] == ["synonym", "narrower", "broader"]


def test_within_one_relation_the_title_counts_more_than_the_description():
    expansion = load_thesaurus().expand("salinité")
    in_title = _entry("t", "Sea surface salinity maps")
    in_description = _entry("d", "Maps", description="Sea surface salinity")
    assert score(in_title, expansion) > score(in_description, expansion) > 0


# -- the user's case, end to end -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def user_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A static STAC catalogue like the user's: 'ocean climatology' holding sea_water_temperature, and an air
    temperature collection beside it."""
    root = tmp_path_factory.mktemp("user-stac")
    catalog = pystac.Catalog(id="user", description="a user's catalogue")
    extent = pystac.Extent(
        pystac.SpatialExtent([[-180, -90, 180, 90]]),
        pystac.TemporalExtent([[None, None]]),  # type: ignore[list-item]
    )
    for cid, title, variable in [
        ("woa-climatology", "ocean climatology", "sea_water_temperature"),
        ("air-reanalysis", "Atmospheric reanalysis", "air_temperature"),
    ]:
        collection = pystac.Collection(cid, f"{title}, monthly", extent, title=title)
        collection.extra_fields["cube:variables"] = {
            variable: {"type": "data", "dimensions": ["time", "lat", "lon"], "description": variable}
        }
        catalog.add_child(collection)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        catalog.normalize_and_save(str(root), catalog_type=pystac.CatalogType.SELF_CONTAINED)
    federation = root / "federation.yaml"
    federation.write_text(f"providers:\n  - name: user\n    hub: ocean\n    type: stac\n    url: {root}/catalog.json\n")
    return federation


def test_the_users_case_french_sea_temperature_finds_the_ocean_climatology(user_catalog):
    cat = gl.open_catalog(user_catalog)
    assert [e.id for e in cat.search(q="sea temperature")][:1] == ["user/woa-climatology"]
    results = cat.search(q="température de la mer")
    assert [e.id for e in results] == ["user/woa-climatology"]
    terms = {(t.term, t.vocabulary, t.relation) for t in results.query_terms}
    assert ("température de la mer", "query", "literal") in terms
    assert ("sea_water_temperature", "CF", "synonym") in terms
    assert {t.vocabulary for t in results.query_terms} >= {"query", "CF", "GCMD", "GEMET", "gaia-lab"}
    assert "température de la mer" in results.query.terms and "sea_water_temperature" in results.query.terms
    why = results.explain("user/woa-climatology")
    assert why[0].term.term == "sea_water_temperature" and why[0].field == "variables"
    assert why[0].term.vocabulary == "CF" and why[0].term.relation == "synonym"


def test_search_explain_prints_why_each_entry_matched(user_catalog):
    env = {**os.environ, "GAIA_LAB_CATALOG": str(user_catalog)}
    out = subprocess.run(
        [sys.executable, "-m", "gaia_lab.cli", "search", "température de la mer", "--explain"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    ).stdout
    assert "user/woa-climatology" in out and "air-reanalysis" not in out
    assert "'sea_water_temperature': synonym, CF in variables" in out
    assert "narrower  GCMD      SEA SURFACE TEMPERATURE" in out
    payload = json.loads(
        subprocess.run(
            [sys.executable, "-m", "gaia_lab.cli", "search", "température de la mer", "--explain", "--json"],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=True,
        ).stdout
    )
    reason = payload["entries"][0]["explain"][0]
    assert reason == {
        "term": "sea_water_temperature",
        "vocabulary": "CF",
        "relation": "synonym",
        "concept": "CF:sea_water_temperature",
        "field": "variables",
        "points": reason["points"],
        "phrase": False,
        "scattered": False,
        "keyword_concept": "",
    }
    assert {"term": "OCEAN TEMPERATURE", "vocabulary": "GCMD", "relation": "synonym"}.items() <= next(
        t for t in payload["query_term_sources"] if t["term"] == "OCEAN TEMPERATURE"
    ).items()
