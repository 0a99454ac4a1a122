"""Relevance of entries to an expanded text query, and de-duplication of entries found in several catalogues."""

from __future__ import annotations

from datetime import UTC, datetime

from gaia_lab.catalog.entry import Entry
from gaia_lab.catalog.thesaurus import Expansion, normalize

# A term in the title says more about the dataset than one in its description.
FIELD_WEIGHTS = {"title": 3.0, "variables": 2.5, "keywords": 2.0, "id": 2.0, "description": 1.0}


def _fields(entry: Entry) -> dict[str, str]:
    return {
        "title": normalize(entry.title),
        "variables": " | ".join(normalize(v) for v in entry.variables),
        "keywords": " | ".join(normalize(k) for k in entry.keywords),
        "id": normalize(entry.local_id),
        "description": normalize(entry.description),
    }


# The user's own words, found as typed, count a little more than their synonyms ("A1B" over another scenario).
LITERAL_BONUS = 0.5


def score(entry: Entry, expansion: Expansion, literal: str = "") -> float:
    """Sum over query groups (a concept or a leftover word) of the best field weight any of its terms hits,
    plus a bonus per word of the ``literal`` query found as such."""
    fields = {name: f" {text} " for name, text in _fields(entry).items()}
    total = 0.0
    for group in expansion.groups:
        best = 0.0
        for term in group:
            needle = f" {term} "
            for name, text in fields.items():
                if needle in text:
                    best = max(best, FIELD_WEIGHTS[name])
        total += best
    if total > 0:
        everything = " ".join(fields.values())
        total += LITERAL_BONUS * sum(f" {word} " in everything for word in normalize(literal).split())
    return total


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


def deduplicate(entries: list[Entry]) -> list[Entry]:
    """One entry per dataset: the same local id and title served by two catalogues is kept once (first provider)."""
    kept: dict[tuple[str, str], Entry] = {}
    for entry in entries:
        key = (entry.local_id.lower(), normalize(entry.title))
        if key in kept:
            first = kept[key]
            first.mirrors.append(entry.id)
            continue
        kept[key] = entry
    return list(kept.values())
