"""French queries reach English ISO 19139 records of real catalogues through a real CSW (pycsw): the query's
expansion (GEMET French -> English labels, GCMD, CF) is sent to the server as its full-text constraint, and the
records' keywords, with their thesaurus names, are matched through the same concepts.

The records are nobody's here: tests/data/iso (PacIOOS, MARACOOS, Marine Institute Ireland, IPMA, ...; see its
PROVENANCE.md)."""

from __future__ import annotations

import re

import pytest
from stac_servers import RunningServer

import gaia_lab as gl

pytestmark = pytest.mark.slow

PACIOOS = "NS06agg"  # nearshore sensor: GCMD keywords Water Temperature, Salinity, Chlorophyll, Turbidity
MARACOOS = "org.maracoos:avhrr.sst"  # GCMD EARTH SCIENCE > OCEANS > OCEAN TEMPERATURE > SEA SURFACE TEMPERATURE
CE0911 = "ie.marine.data:dataset.1135"  # AtlantOS variables: Air temperature, Salinity, Wind speed, ...
IPMA = "17bd184a-7e7d-4f81-95a5-041449a7212b"  # "Air temperature", GEMET - INSPIRE themes

# (French query, a record it must find). None of the query's words is in the record (checked below).
TABLE = [
    ("température de la mer", PACIOOS),
    ("température de la mer", MARACOOS),
    ("température océanique", MARACOOS),
    ("salinité", PACIOOS),
    ("salinité", CE0911),
    ("chlorophylle", PACIOOS),
    ("turbidité", PACIOOS),
    ("climat", CE0911),
    ("vitesse du vent", CE0911),
]
_STOP = {"de", "la", "le", "les", "du", "des", "en", "of", "the", "and", "et"}


def _typed_words(text: str) -> set[str]:
    return {w for w in re.split(r"[^\w]+|_", text.lower()) if w and w not in _STOP and len(w) > 1}


@pytest.fixture(scope="module")
def csw(pycsw_server: RunningServer) -> gl.Catalog:
    return gl.open_catalog({"providers": [{"name": "csw", "hub": "ocean", "type": "csw", "url": pycsw_server.url}]})


@pytest.mark.parametrize(("query", "expected"), TABLE)
def test_french_queries_find_english_records(csw: gl.Catalog, query: str, expected: str) -> None:
    results = csw.search(query, limit=None)
    assert not results.errors, results.errors
    found = {entry.local_id: entry for entry in results}
    assert expected in found, f"{query!r} did not find {expected}; found {sorted(found)}"
    entry = found[expected]
    record = " ".join([entry.title, entry.description, *entry.keywords])
    assert not _typed_words(query) & _typed_words(record), "the record uses the query's words"
    reasons = results.explain(entry)
    assert {match.term.vocabulary for match in reasons} - {"query"}, reasons


def test_a_gcmd_keyword_of_a_record_resolves_to_its_concept(csw: gl.Catalog) -> None:
    results = csw.search("température de la mer", limit=None)
    maracoos = results[f"csw/{MARACOOS}"]
    assert maracoos.keyword_thesauri  # the record names the thesaurus of its keywords
    vocabularies = {match.term.vocabulary for match in results.explain(maracoos)}
    assert "GCMD" in vocabularies or "CF" in vocabularies, results.explain(maracoos)


def test_an_unrelated_french_query_finds_none_of_them(csw: gl.Catalog) -> None:
    found = {entry.local_id for entry in csw.search("parcelles cadastrales", limit=None)}
    assert found == {"955c3e47-411e-4969-b61b-3556d1b9f879"}  # the Breton cadastre, and no ocean record
