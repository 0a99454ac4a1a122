"""Relevance of entries to an expanded text query, why each entry matched, and de-duplication of entries found in
several catalogues.

Ranking rule: the exact phrase of the query > its literal words > synonyms > narrower concepts > broader ones. Each
query segment (a phrase some vocabulary knows, or a leftover word) scores once, by the strongest relation any of its
terms reaches in the entry; within one relation a hit in the title counts a little more than one in the description,
never as much as the next relation up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gaia_lab.catalog.entry import Entry
from gaia_lab.catalog.thesaurus import Expansion, QueryTerm, Segment, match_key, normalize
from gaia_lab.query import BBox

# A term in the title says more about the dataset than one in its description (within one relation).
FIELD_WEIGHTS = {"title": 3.0, "variables": 2.5, "keywords": 2.0, "id": 2.0, "description": 1.0}
# Relation weights: each at least twice the next, and field weights multiply by at most 1.3, so one segment's
# relation decides before the field does.
RELATION_WEIGHTS = {"literal": 8.0, "synonym": 4.0, "narrower": 2.0, "broader": 1.0}
PHRASE_BONUS = 16.0
# Some but not all words of a recognised phrase ("temperature" of "température de la mer" in an air temperature
# collection): a little credit to order entries that matched otherwise, never enough to keep an entry alone.
PARTIAL_WORD = 0.25
_FIELDS = tuple(FIELD_WEIGHTS)


def _factor(field: str) -> float:
    return 1.0 + FIELD_WEIGHTS[field] / 10.0


@dataclass(frozen=True)
class Match:
    """One reason an entry matched: a query term found in one field of the entry (``keyword`` names the GCMD
    concept when the entry's keyword was resolved through the vocabularies)."""

    term: QueryTerm
    field: str
    points: float
    keyword_concept: str = ""
    phrase: bool = False  # the whole query, word for word
    scattered: bool = False  # every word of a phrase of the query, not side by side

    def describe(self) -> str:
        if self.phrase:
            what = "exact phrase"
        elif self.scattered:
            what = "literal, every word (not side by side)"
        else:
            what = f"{self.term.relation}, {self.term.vocabulary}"
        via = f" via GCMD keyword {self.keyword_concept}" if self.keyword_concept else ""
        return f"{self.term.term!r}: {what} in {self.field}{via} (+{self.points:.2f})"


class _EntryText:
    """An entry's fields in match-key form, padded with spaces so that ' term ' finds whole words only."""

    def __init__(self, entry: Entry, expansion: Expansion) -> None:
        keywords: list[str] = []
        self.resolved: dict[str, str] = {}  # matched text -> GCMD concept id
        for keyword in entry.keywords:
            concept = expansion.resolve_keyword(keyword, entry.keyword_thesauri.get(keyword))
            if concept is not None:
                # A GCMD path names one concept, its leaf: its ancestors are context, not what the record is about.
                leaf = match_key(concept.rsplit(" > ", 1)[-1])
                self.resolved[leaf] = concept
                keywords.append(leaf)
            else:
                keywords.append(match_key(keyword))
        self.fields = {
            "title": f" {match_key(entry.title)} ",
            "variables": " " + " | ".join(match_key(v) for v in entry.variables) + " ",
            "keywords": " " + " | ".join(keywords) + " ",
            "id": f" {match_key(entry.local_id)} ",
            "description": f" {match_key(entry.description)} ",
        }
        self.everything = " \x00 ".join(self.fields.values())

    def best_field(self, key: str) -> str | None:
        needle = f" {key} "
        if needle not in self.everything:
            return None
        return next(name for name in _FIELDS if needle in self.fields[name])


def _segment_matches(text: _EntryText, segment: Segment) -> tuple[list[Match], bool]:
    """The best matches of one segment (all at its strongest relation found), and whether any is a real hit."""
    for relation in ("literal", "synonym", "narrower", "broader"):
        found: list[Match] = []
        for term in segment.terms:
            if term.relation != relation:
                continue
            field = text.best_field(term.key)
            if field is not None:
                points = RELATION_WEIGHTS[relation] * _factor(field)
                keyword_concept = text.resolved.get(term.key, "") if field == "keywords" else ""
                found.append(Match(term, field, points, keyword_concept))
        if found:
            return sorted(found, key=lambda m: -m.points), True
        if relation == "literal" and segment.concepts and len(segment.words) > 1:
            # Every word of the phrase, not side by side: still the user's own words.
            hits = [(w, text.best_field(w)) for w in segment.words]
            if all(f is not None for _, f in hits):
                fields = [f for _, f in hits if f is not None]
                weakest = min(_factor(f) for f in fields)
                term = QueryTerm(segment.typed or " ".join(segment.words), "query", "literal")
                where = ", ".join(dict.fromkeys(fields))
                return [Match(term, where, RELATION_WEIGHTS["literal"] * 0.9 * weakest, scattered=True)], True
    partial = [
        Match(QueryTerm(w, "query", "literal"), f, PARTIAL_WORD)
        for w in segment.words
        if (f := text.best_field(w)) is not None
    ]
    return partial, False


def explain(entry: Entry, expansion: Expansion) -> tuple[float, list[Match]]:
    """The entry's score for the query and every reason behind it (empty when the entry does not match)."""
    text = _EntryText(entry, expansion)
    matches: list[Match] = []
    real = False
    total = 0.0
    for segment in expansion.segments:
        found, hit = _segment_matches(text, segment)
        real = real or hit
        if found:
            matches.append(found[0])
            matches.extend(found[1:])
            total += found[0].points if hit else sum(m.points for m in found)
    if not real:
        return 0.0, []
    phrase = expansion.phrase
    if len(phrase.split()) > 1:
        field = text.best_field(phrase)
        if field is not None:
            points = PHRASE_BONUS * _factor(field)
            matches.insert(0, Match(QueryTerm(expansion.text, "query", "literal"), field, points, phrase=True))
            total += points
    return total, matches


def score(entry: Entry, expansion: Expansion, literal: str = "") -> float:
    """The entry's relevance to the expanded query; 0 when nothing but stray words of a phrase matched.
    (``literal`` is accepted for compatibility: the expansion carries the query's own words.)"""
    return explain(entry, expansion)[0]


def matches_variables(entry: Entry, wanted: list[list[str]]) -> bool:
    """Whether the entry holds every wanted variable (each given as alternatives: a name and its CF synonyms)."""
    present = {normalize(v) for v in entry.variables} | {normalize(k) for k in entry.keywords}
    return all(any(normalize(alt) in present for alt in alternatives) for alternatives in wanted)


def _end(entry: Entry) -> float:
    if entry.datetime is None:
        return float("-inf")
    end = entry.datetime[1] or entry.datetime[0] or datetime.now(UTC)
    return end.timestamp()


def rank(entries: list[Entry]) -> list[Entry]:
    """Most relevant first, then most recent data, then by id for a stable order."""
    return sorted(entries, key=lambda e: (-e.score, -_end(e), e.id))


# Two records of one dataset may describe its extent a little differently (a catalogue clipping a box at -180).
SAME_EXTENT = 0.95


def _harvest_key(entry: Entry, title: str) -> tuple[object, ...] | None:
    """What a dataset keeps when another catalogue harvests it under an identifier of its own (a CSW record of a
    STAC collection, a GeoNetwork copy of a Sextant record): its hub, title and time span, and nearly its extent.
    Items (scenes, granules) are not harvested that way and are left out: they are the bulk of a search."""
    if entry.kind == "item" or entry.bbox is None or not title:
        return None
    return (entry.hub, title, entry.datetime)


def _overlap(a: BBox, b: BBox) -> float:
    """Intersection over union of two boxes in degrees (antimeridian-crossing boxes split at 180)."""
    height = min(a.north, b.north) - max(a.south, b.south)
    if height <= 0:
        return 0.0
    common = sum(max(0.0, min(p.east, q.east) - max(p.west, q.west)) for p in a.parts() for q in b.parts()) * height
    union = a.width * (a.north - a.south) + b.width * (b.north - b.south) - common
    return common / union if union > 0 else 1.0


def deduplicate(entries: list[Entry]) -> list[Entry]:
    """One entry per dataset, kept from the first provider listing it; the others become its ``mirrors``.

    The same dataset is recognised by the same local id and title (mirrored catalogues), or by the same hub, title
    and time span over nearly the same extent (a catalogue harvesting another under its own identifiers)."""
    # Titles are normalised only where they are compared: for items (the bulk of a search, never harvested under
    # other ids) only when two share a local id.
    by_id: dict[str, list[list[Any]]] = {}  # local id -> [kept entry, its normalised title or None], in order
    by_harvest: dict[tuple[object, ...], list[Entry]] = {}
    kept: list[Entry] = []
    for entry in entries:
        local = entry.local_id.lower()
        title = normalize(entry.title) if entry.kind != "item" else None
        first: Entry | None = None
        same_id = by_id.get(local)
        if same_id:
            if title is None:
                title = normalize(entry.title)
            for pair in same_id:
                if pair[1] is None:
                    pair[1] = normalize(pair[0].title)
                if pair[1] == title:
                    first = pair[0]
                    break
        harvest = _harvest_key(entry, title) if title is not None else None
        box = entry.bbox
        if first is None and harvest is not None and box is not None:
            first = next(
                (
                    other
                    for other in by_harvest.get(harvest, ())
                    if other.bbox is not None and _overlap(other.bbox, box) >= SAME_EXTENT
                ),
                None,
            )
        if first is not None:
            first.mirrors.append(entry.id)
            continue
        by_id.setdefault(local, []).append([entry, title])
        if harvest is not None:
            by_harvest.setdefault(harvest, []).append(entry)
        kept.append(entry)
    return kept
