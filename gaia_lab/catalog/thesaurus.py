"""Vocabulary harmonisation: free text (French or English) -> CF standard names, GCMD keywords and synonyms.

The concepts live in a data file (``thesaurus.yaml`` beside this module) that hubs extend with their own files.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml

from gaia_lab.errors import ConfigError

_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "at",
        "by",
        "de",
        "des",
        "du",
        "d",
        "en",
        "et",
        "for",
        "from",
        "in",
        "l",
        "la",
        "le",
        "les",
        "of",
        "on",
        "or",
        "the",
        "to",
        "sur",
        "dans",
        "au",
        "aux",
        "une",
        "un",
        "par",
        "pour",
    ]
)
_LABEL_FIELDS = ("cf", "gcmd", "en", "fr")


_NOT_WORD = re.compile(r"[^a-z0-9.]+")


def normalize(text: str) -> str:
    """Lower case, accents and punctuation folded, underscores and '>' as spaces: 'Mer_Égée' -> 'mer egee'."""
    if text.isascii():  # most titles and ids: no accent to fold (this runs for every entry of a search)
        ascii_text = text.lower()
    else:
        decomposed = unicodedata.normalize("NFKD", text)
        ascii_text = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return " ".join(_NOT_WORD.sub(" ", ascii_text.replace("_", " ")).split())


@dataclass(frozen=True)
class Concept:
    id: str
    labels: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def terms(self) -> list[str]:
        """Every label, CF names first (they match variables), deduplicated."""
        seen: dict[str, None] = {}
        for kind in _LABEL_FIELDS:
            for label in self.labels.get(kind, ()):
                seen.setdefault(label, None)
        return list(seen)

    def gcmd_leaves(self) -> list[str]:
        return [g.split(">")[-1].strip() for g in self.labels.get("gcmd", ())]


@dataclass(frozen=True)
class Expansion:
    """The outcome of expanding a query: concepts recognised and the words left over."""

    concepts: tuple[Concept, ...]
    words: tuple[str, ...]

    @property
    def terms(self) -> list[str]:
        terms: dict[str, None] = {}
        for concept in self.concepts:
            terms.update(dict.fromkeys(concept.terms))
        terms.update(dict.fromkeys(self.words))
        return list(terms)

    @property
    def groups(self) -> list[list[str]]:
        """One group of alternative terms per concept or leftover word; an entry scores once per group."""
        groups = [[normalize(t) for t in [*c.terms, *c.gcmd_leaves()]] for c in self.concepts]
        return groups + [[w] for w in self.words]


class Thesaurus:
    def __init__(self, concepts: Iterable[Concept]) -> None:
        self.concepts: dict[str, Concept] = {}
        for concept in concepts:
            self.concepts[concept.id] = concept
        self._index: list[tuple[str, Concept]] = sorted(
            ((normalize(label), c) for c in self.concepts.values() for label in [*c.terms, *c.gcmd_leaves()]),
            key=lambda pair: -len(pair[0]),
        )

    @classmethod
    def from_files(cls, paths: Sequence[str | os.PathLike[str]], *, include_default: bool = True) -> Thesaurus:
        concepts: dict[str, Concept] = {}
        documents: list[tuple[str, object]] = []
        if include_default:
            text = resources.files("gaia_lab.catalog").joinpath("thesaurus.yaml").read_text(encoding="utf-8")
            documents.append(("gaia_lab/catalog/thesaurus.yaml", yaml.safe_load(text)))
        for path in paths:
            try:
                documents.append((str(path), yaml.safe_load(Path(path).read_text(encoding="utf-8"))))
            except (OSError, yaml.YAMLError) as error:
                raise ConfigError(f"cannot read thesaurus: {error}", source=str(path)) from None
        for source, document in documents:
            for concept in _parse(document, source):
                previous = concepts.get(concept.id)
                if previous is not None:  # extension files add labels to existing concepts
                    merged = {
                        k: tuple(dict.fromkeys(previous.labels.get(k, ()) + concept.labels.get(k, ())))
                        for k in _LABEL_FIELDS
                    }
                    concept = Concept(concept.id, merged)
                concepts[concept.id] = concept
        return cls(concepts.values())

    def expand(self, text: str) -> Expansion:
        """Concepts whose labels occur in ``text`` (longest labels first), plus the remaining content words."""
        remaining = f" {normalize(text)} "
        found: dict[str, Concept] = {}
        for label, concept in self._index:
            needle = f" {label} "
            if label and needle in remaining:
                found.setdefault(concept.id, concept)
                remaining = remaining.replace(needle, " ")
        words = tuple(w for w in remaining.split() if w not in _STOPWORDS and len(w) > 1)
        return Expansion(tuple(found.values()), words)

    def concept_of(self, term: str) -> Concept | None:
        """The concept one label belongs to (exact match after normalisation)."""
        key = normalize(term)
        return next((c for label, c in self._index if label == key), None)


def _parse(document: object, source: str) -> list[Concept]:
    if not isinstance(document, dict) or not isinstance(document.get("concepts"), list):
        raise ConfigError("a thesaurus file needs a 'concepts' list", source=source)
    concepts = []
    for index, raw in enumerate(document["concepts"]):
        if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
            raise ConfigError(f"concepts[{index}] needs an 'id'", source=source)
        unknown = set(raw) - {"id", *_LABEL_FIELDS}
        if unknown:
            raise ConfigError(f"concept {raw['id']!r}: unknown keys {sorted(unknown)}", source=source)
        labels = {}
        for kind in _LABEL_FIELDS:
            values = raw.get(kind) or []
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise ConfigError(f"concept {raw['id']!r}: {kind} must be a list of strings", source=source)
            labels[kind] = tuple(values)
        concepts.append(Concept(raw["id"], labels))
    return concepts


@lru_cache(maxsize=8)
def _cached(paths: tuple[str, ...]) -> Thesaurus:
    return Thesaurus.from_files(paths)


def load_thesaurus(extra: Sequence[str | os.PathLike[str]] = ()) -> Thesaurus:
    """The packaged thesaurus, extended by ``$GAIA_LAB_THESAURUS`` (os.pathsep-separated) and ``extra`` files."""
    env = [p for p in os.environ.get("GAIA_LAB_THESAURUS", "").split(os.pathsep) if p]
    return _cached(tuple(str(p) for p in [*env, *extra]))
