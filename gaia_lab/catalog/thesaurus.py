"""Vocabulary harmonisation: free text (French or English) -> concepts of published vocabularies, and back to the
terms that catalogues use.

Four vocabularies, one concept model (a concept has labels, broader concepts and links to equivalent concepts):

- ``CF``: the CF standard name table (every name, its aliases and canonical units);
- ``GCMD``: NASA's GCMD science keywords, a hierarchy (``EARTH SCIENCE > OCEANS > OCEAN TEMPERATURE > ...``);
- ``GEMET``: the EEA's GEMET thesaurus, its French labels and hierarchy;
- ``gaia-lab``: a small hand-made layer (``thesaurus.yaml``, extended by hubs' files) that maps everyday French and
  English words to CF names, GCMD keywords and GEMET concepts where the published vocabularies do not meet.

The first three come from ``vocabularies/index.json.gz``, built by ``scripts/build-vocabularies.py`` from the
packages that publish them (see ``vocabularies/PROVENANCE.md``); it is read once, at the first query expansion.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

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
_LABEL_FIELDS = ("cf", "gcmd", "gemet", "en", "fr")

# Relations of a query term to the user's words, strongest first: ranking follows this order.
RELATIONS = ("literal", "synonym", "narrower", "broader")
_RANK = {name: rank for rank, name in enumerate(RELATIONS)}

_NOT_WORD = re.compile(r"[^a-z0-9.]+")
# Depth of narrower concepts a query reaches (OCEAN TEMPERATURE -> WATER TEMPERATURE -> CF names), and at most
# how many narrower terms one concept brings: a broad word must not drag a whole branch into every query.
_NARROWER_DEPTH = 2
_NARROWER_LIMIT = 120
_MAX_LABEL_WORDS = 12
# The version of match_key's rules; vocabularies/index.json.gz stores its labels' keys under the version it was
# built with (scripts/build-vocabularies.py), and they are recomputed when it differs.
KEY_FORMAT = 1
_VOCABULARY_ORDER = {"CF": 0, "GCMD": 1, "GEMET": 2, "gaia-lab": 3}


# match_key folds a trailing plural 's' (not 'ss', 'us', 'is'): "aerosols" and "aerosol", "précipitations" and
# "précipitation" meet. Applied alike to labels, queries and entries, so it only has to be consistent, not English.


def normalize(text: str) -> str:
    """Lower case, accents and punctuation folded, underscores and '>' as spaces: 'Mer_Égée' -> 'mer egee'."""
    if text.isascii():  # most titles and ids: no accent to fold (this runs for every entry of a search)
        ascii_text = text.lower()
    else:
        decomposed = unicodedata.normalize("NFKD", text)
        ascii_text = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    return " ".join(_NOT_WORD.sub(" ", ascii_text.replace("_", " ")).split())


def match_key(text: str) -> str:
    """The form in which labels, queries and entry text are compared: normalised, plurals folded. Short texts
    (labels, titles, keywords: they come back search after search) are cached; descriptions are not kept."""
    return _short_key(text) if len(text) <= 160 else _key(text)


def _key(text: str) -> str:
    normal = normalize(text)
    return " ".join(_singular(w) for w in normal.split()) if "s" in normal else normal


_short_key = lru_cache(maxsize=1 << 15)(_key)


def _singular(word: str) -> str:
    return word[:-1] if len(word) > 4 and word[-1] == "s" and word[-2] not in "siu" else word


class QueryTerm(str):
    """One term a query was expanded to: a string (what is searched) that also says where it comes from.

    ``vocabulary`` is ``query`` (the user's own words), ``gaia-lab``, ``CF``, ``GCMD`` or ``GEMET``; ``relation``
    is ``literal``, ``synonym``, ``narrower`` or ``broader``; ``concept`` the id of the concept it labels.
    """

    vocabulary: str
    relation: str
    concept: str
    key: str

    def __new__(cls, term: str, vocabulary: str, relation: str, concept: str = "") -> QueryTerm:
        self = super().__new__(cls, term)
        self.vocabulary = vocabulary
        self.relation = relation
        self.concept = concept
        self.key = match_key(term)
        return self

    @property
    def term(self) -> str:
        return str.__str__(self)

    def to_dict(self) -> dict[str, str]:
        return {"term": self.term, "vocabulary": self.vocabulary, "relation": self.relation, "concept": self.concept}

    def __repr__(self) -> str:
        return f"QueryTerm({self.term!r}, vocabulary={self.vocabulary!r}, relation={self.relation!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (QueryTerm, (self.term, self.vocabulary, self.relation, self.concept))


@dataclass(frozen=True)
class Concept:
    """A concept of one vocabulary. ``id`` is unique across vocabularies: ``CF:<name>``, ``GCMD:<path>``,
    ``GEMET:<number>``, and the bare id for the gaia-lab layer."""

    id: str
    vocabulary: str
    label: str
    labels: tuple[str, ...] = ()
    broader: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    units: str = ""
    # The hand-made layer's fields as written (cf, gcmd, gemet, en, fr), for extension files and messages.
    fields: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def terms(self) -> list[str]:
        """The display label then every other label, deduplicated."""
        return list(dict.fromkeys([self.label, *self.labels, *self.fields.get("cf", ())]))


@dataclass(frozen=True)
class Segment:
    """A run of the query's words: a phrase recognised as concept labels, or one leftover word."""

    text: str
    concepts: tuple[Concept, ...]
    terms: tuple[QueryTerm, ...]  # literal first, then synonyms, narrower, broader
    typed: str = ""  # the words as the user typed them

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(w for w in self.text.split() if w not in _STOPWORDS and len(w) > 1)


@dataclass(frozen=True)
class Expansion:
    """A query expanded through the vocabularies: its segments, each with its terms and their provenance."""

    text: str
    segments: tuple[Segment, ...]
    resolve_keyword: Callable[[str, str | None], str | None] = field(default=lambda k, t: None, compare=False)

    @property
    def phrase(self) -> str:
        """The whole query as compared with entries (stopwords kept: an exact phrase is exact)."""
        return match_key(self.text)

    @property
    def concepts(self) -> tuple[Concept, ...]:
        return tuple(dict.fromkeys(c for s in self.segments for c in s.concepts))

    @property
    def words(self) -> tuple[str, ...]:
        """Words of the query that no vocabulary knows."""
        return tuple(s.text for s in self.segments if not s.concepts)

    @property
    def query_terms(self) -> list[QueryTerm]:
        """Every term, the strongest relation kept where two segments share one."""
        best: dict[tuple[str, str], QueryTerm] = {}
        for segment in self.segments:
            for term in segment.terms:
                known = best.get((term.key, term.vocabulary))
                if known is None or _RANK[term.relation] < _RANK[known.relation]:
                    best[term.key, term.vocabulary] = term
        return sorted(best.values(), key=lambda t: _RANK[t.relation])

    @property
    def terms(self) -> list[str]:
        """The terms as plain strings (``Query.terms``, for providers that filter text server-side)."""
        return list(dict.fromkeys(t.term for t in self.query_terms))


class _Vocabularies:
    """The published vocabularies, indexed: concept ids by label key, narrower concepts, CF-GCMD links, GCMD
    concepts by path; each concept is made the first time it is asked for."""

    def __init__(
        self,
        cf: dict[str, dict[str, Any]],
        gcmd: set[str],
        gemet: dict[str, dict[str, Any]],
        by_label: dict[str, list[str]],
        narrower: dict[str, list[str]],
        linked: dict[str, list[str]],
        sources: dict[str, Any],
    ) -> None:
        self.cf, self.gcmd, self.gemet = cf, gcmd, gemet
        self.by_label, self.narrower, self.linked = by_label, narrower, linked
        self.sources = sources
        self._made: dict[str, Concept | None] = {}

    @cached_property
    def gcmd_paths(self) -> dict[str, str]:
        """GCMD concept ids by path key, with and without the category: records often leave "EARTH SCIENCE" out.
        Made at the first keyword resolved, not at the first query."""
        paths: dict[str, str] = {}
        for path in self.gcmd:
            if " > " in path:
                paths.setdefault(_path_key(path.split(" > ", 1)[1]), f"GCMD:{path}")
        for path in self.gcmd:
            paths[_path_key(path)] = f"GCMD:{path}"
        return paths

    def __len__(self) -> int:
        return len(self.cf) + len(self.gcmd) + len(self.gemet)

    def ids(self, vocabulary: str) -> list[str]:
        if vocabulary == "CF":
            return [f"CF:{n}" for n in self.cf]
        if vocabulary == "GCMD":
            return [f"GCMD:{p}" for p in sorted(self.gcmd)]
        return [f"GEMET:{n}" for n in self.gemet]

    def concept(self, concept_id: str) -> Concept | None:
        if concept_id not in self._made:
            self._made[concept_id] = self._make(concept_id)
        return self._made[concept_id]

    def _make(self, concept_id: str) -> Concept | None:
        vocabulary, _, key = concept_id.partition(":")
        if vocabulary == "CF" and key in self.cf:
            info = self.cf[key]
            return Concept(concept_id, "CF", key, (key, *info["aliases"]), units=info["units"])
        if vocabulary == "GCMD" and key in self.gcmd:
            parent, _, leaf = key.rpartition(" > ")
            above: tuple[str, ...] = (f"GCMD:{parent}",) if parent else ()
            return Concept(concept_id, "GCMD", leaf, tuple(gcmd_label_variants(leaf)), above)
        if vocabulary == "GEMET" and key in self.gemet:
            info = self.gemet[key]
            broader = tuple(f"GEMET:{b}" for b in info["broader"])
            labels = (info["fr"], info["en"]) if "en" in info else (info["fr"],)
            return Concept(concept_id, "GEMET", info["fr"], labels, broader)
        return None


def gcmd_label_variants(leaf: str) -> list[str]:
    """'AEROSOL OPTICAL DEPTH/THICKNESS' -> the label, 'aerosol optical depth', 'aerosol optical thickness';
    'LAND USE/LAND COVER' -> 'land use', 'land cover'; 'DISASTER RECOVERY/RELIEF' -> never a bare 'relief'."""
    if "/" not in leaf or leaf.count("/") > 1:
        return [leaf]
    left, right = (part.split() for part in leaf.split("/"))
    if not left or not right:
        return [leaf]
    if len(left) > 1 and len(right) == 1:
        return [leaf, " ".join(left), " ".join([*left[:-1], *right])]
    return [leaf, " ".join(left), " ".join(right)]


_OCEAN_WORDS = frozenset({"sea", "ocean", "seawater"})


def _cf_fits_gcmd(cf_words: list[str], extra: list[str], gcmd_id: str) -> bool:
    """Whether a CF name whose words end with a GCMD keyword's stands for that keyword: not a statistic or a
    derivative of it ('square_of_...', 'tendency_of_...'), and in the same medium (an OCEANS keyword for a sea
    water name, an air name for an ATMOSPHERE one)."""
    if "of" in extra:
        return False
    in_ocean = " > OCEANS > " in f"{gcmd_id} > "
    names_sea = bool(_OCEAN_WORDS & set(cf_words))
    return names_sea if in_ocean else not names_sea or bool(_OCEAN_WORDS & set(gcmd_id.lower().split()))


@lru_cache(maxsize=1)
def _vocabularies() -> _Vocabularies:
    """Read and index the packaged vocabularies (once per process). Concepts are made when first asked for: a
    search touches a few dozen of the 13,000."""
    raw = resources.files("gaia_lab.catalog").joinpath("vocabularies/index.json.gz").read_bytes()
    index = json.loads(gzip.decompress(raw))
    cf: dict[str, dict[str, Any]] = index["cf"]
    gemet: dict[str, dict[str, Any]] = index["gemet"]
    by_label: dict[str, list[str]] = {}
    keys: dict[str, str] = index.get("keys", {}) if index.get("key_format") == KEY_FORMAT else {}

    def label(text: str, concept_id: str) -> None:
        ids = by_label.setdefault(keys.get(text) or match_key(text), [])
        if concept_id not in ids:
            ids.append(concept_id)

    narrower: dict[str, list[str]] = {}
    gcmd_leaves: dict[str, list[str]] = {}
    for name, info in cf.items():
        for text in (name, *info["aliases"]):
            label(text, f"CF:{name}")
    for path in index["gcmd"]:
        concept_id = f"GCMD:{path}"
        parent, _, leaf = path.rpartition(" > ")
        if parent:
            narrower.setdefault(f"GCMD:{parent}", []).append(concept_id)
        for text in gcmd_label_variants(leaf):
            label(text, concept_id)
            if path.count(" > ") >= 2:
                gcmd_leaves.setdefault(keys.get(text) or match_key(text), []).append(concept_id)
    for number, info in gemet.items():
        label(info["fr"], f"GEMET:{number}")
        if "en" in info:
            label(info["en"], f"GEMET:{number}")
        for parent_number in info["broader"]:
            narrower.setdefault(f"GEMET:{parent_number}", []).append(f"GEMET:{number}")
    # CF names meet GCMD keywords where a name ends with a keyword's words: sea_water_temperature and
    # WATER TEMPERATURE, sea_water_salinity and SALINITY. At most two more words, and a one-word keyword only for
    # names of two words, so that every *_temperature does not land on a lone TEMPERATURE.
    linked: dict[str, list[str]] = {}
    for name in cf:
        words = (keys.get(name) or match_key(name)).split()
        for extra in range(0, min(3, len(words))):
            suffix = words[extra:]
            if len(suffix) == 1 and len(words) > 2:
                break
            targets = gcmd_leaves.get(" ".join(suffix))
            if targets:
                for target in targets:
                    if _cf_fits_gcmd(words, words[:extra], target):
                        linked.setdefault(f"CF:{name}", []).append(target)
                        linked.setdefault(target, []).append(f"CF:{name}")
                break
    return _Vocabularies(cf, set(index["gcmd"]), gemet, by_label, narrower, linked, index["sources"])


def _path_key(path: str) -> str:
    return " > ".join(match_key(part) for part in path.split(">"))


def _looks_gcmd(keyword: str, thesaurus: str | None) -> bool:
    if thesaurus and ("gcmd" in thesaurus.lower() or "global change master directory" in thesaurus.lower()):
        return True
    return ">" in keyword and normalize(keyword.split(">", 1)[0]) in {"earth science", "earth science services"}


class Thesaurus:
    """The published vocabularies plus the gaia-lab layer (hand-made concepts of this package and of hubs)."""

    def __init__(self, concepts: Iterable[Concept], *, vocabularies: bool = True) -> None:
        self.concepts: dict[str, Concept] = {c.id: c for c in concepts}
        self._use_vocabularies = vocabularies
        self._keywords: dict[tuple[str, str | None], str | None] = {}

    @cached_property
    def _published(self) -> _Vocabularies | None:
        return _vocabularies() if self._use_vocabularies else None

    @cached_property
    def _hand_labels(self) -> dict[str, list[str]]:
        labels: dict[str, list[str]] = {}
        for concept in self.concepts.values():
            for label in [*concept.labels, *concept.fields.get("cf", ())]:
                ids = labels.setdefault(match_key(label), [])
                if concept.id not in ids:
                    ids.append(concept.id)
        return labels

    @property
    def sources(self) -> dict[str, Any]:
        """Where each published vocabulary comes from (package, version)."""
        return self._published.sources if self._published else {}

    @classmethod
    def from_files(
        cls, paths: Sequence[str | os.PathLike[str]], *, include_default: bool = True, vocabularies: bool = True
    ) -> Thesaurus:
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
                        k: tuple(dict.fromkeys(previous.fields.get(k, ()) + concept.fields.get(k, ())))
                        for k in _LABEL_FIELDS
                    }
                    concept = _hand_concept(concept.id, merged)
                concepts[concept.id] = concept
        return cls(concepts.values(), vocabularies=vocabularies)

    # -- lookups -------------------------------------------------------------------------------------------------

    def concept(self, concept_id: str) -> Concept | None:
        if concept_id in self.concepts:
            return self.concepts[concept_id]
        return self._published.concept(concept_id) if self._published else None

    def _lookup(self, key: str) -> list[Concept]:
        ids = list(self._hand_labels.get(key, ()))
        if self._published:
            ids += self._published.by_label.get(key, ())
        return [c for c in (self.concept(i) for i in ids) if c is not None]

    @cached_property
    def _hand_links(self) -> dict[str, list[str]]:
        """Published concept id -> the gaia-lab concepts that link to it: GCMD SEA SURFACE TEMPERATURE reached
        as a narrower concept brings the everyday words for it (SST, TSM) along."""
        reverse: dict[str, list[str]] = {}
        for concept in self.concepts.values():
            for target in concept.links:
                reverse.setdefault(target, []).append(concept.id)
        return reverse

    def _links(self, concept: Concept) -> list[Concept]:
        ids = [*concept.links, *self._hand_links.get(concept.id, ())]
        if self._published:
            ids += self._published.linked.get(concept.id, ())
        found = [c for c in (self.concept(i) for i in dict.fromkeys(ids)) if c is not None]
        return sorted(found, key=lambda c: _VOCABULARY_ORDER.get(c.vocabulary, 9))  # published terms first

    def _narrower(self, concept: Concept) -> list[Concept]:
        if not self._published:
            return []
        found: dict[str, Concept] = {}
        frontier = [concept.id]
        for _ in range(_NARROWER_DEPTH):
            frontier = [n for parent in frontier for n in self._published.narrower.get(parent, ())]
            for child in frontier:
                child_concept = self.concept(child)
                if child_concept is not None:
                    found.setdefault(child, child_concept)
        return list(found.values())

    def _broader(self, concept: Concept) -> list[Concept]:
        # GCMD's categories ("EARTH SCIENCE") say nothing about a dataset: stop below them.
        return [
            c
            for c in (self.concept(b) for b in concept.broader)
            if c is not None and not (c.vocabulary == "GCMD" and " > " not in c.id)
        ]

    def concept_of(self, term: str) -> Concept | None:
        """The concept one label belongs to (exact match after normalisation), the gaia-lab layer first."""
        found = self._lookup(match_key(term))
        return found[0] if found else None

    def cf_names(self, term: str) -> list[str]:
        """CF standard names (and aliases) a variable name stands for: its own concept's, and linked ones."""
        names: dict[str, None] = {}
        for concept in self._lookup(match_key(term)):
            names.update(dict.fromkeys(concept.fields.get("cf", ())))
            for c in [concept, *self._links(concept)]:
                if c.vocabulary == "CF":
                    names.update(dict.fromkeys(c.labels))
        return list(names)

    def resolve_keyword(self, keyword: str, thesaurus: str | None = None) -> str | None:
        """The GCMD concept id of a keyword that comes from GCMD (a full path, or a label of a GCMD thesaurus);
        ``None`` for any other keyword."""
        cache_key = (keyword, thesaurus)
        if cache_key in self._keywords:
            return self._keywords[cache_key]
        found: str | None = None
        if self._published is not None and _looks_gcmd(keyword, thesaurus):
            found = self._published.gcmd_paths.get(_path_key(keyword))
            if found is None and ">" not in keyword:
                found = next(
                    (i for i in self._published.by_label.get(match_key(keyword), ()) if i.startswith("GCMD:")), None
                )
        self._keywords[cache_key] = found
        return found

    def label_of(self, concept_id: str) -> str:
        concept = self.concept(concept_id)
        return concept.label if concept else concept_id

    # -- expansion -----------------------------------------------------------------------------------------------

    def expand(self, text: str) -> Expansion:
        """Split ``text`` into the longest phrases some vocabulary knows (and leftover words), and expand each:
        its own words (literal), the labels of its concepts and of their equivalents (synonym), of the concepts
        below them (narrower) and above (broader)."""
        # Each word remembers the token the user typed, so that literal terms are shown as typed.
        pairs = [(word, token) for token in text.split() for word in match_key(token).split()]
        words = [word for word, _ in pairs]

        def typed(begin: int, size: int) -> str:
            return " ".join(dict.fromkeys(token for _, token in pairs[begin : begin + size]))

        segments: list[Segment] = []
        start = 0
        while start < len(words):
            for size in range(min(_MAX_LABEL_WORDS, len(words) - start), 0, -1):
                phrase = " ".join(words[start : start + size])
                if size == 1 and (phrase in _STOPWORDS or len(phrase) < 2):
                    continue
                concepts = self._lookup(phrase)
                if concepts:
                    segments.append(self._segment(phrase, typed(start, size), concepts))
                    start += size
                    break
            else:
                word = words[start]
                if word not in _STOPWORDS and len(word) > 1:
                    as_typed = typed(start, 1)
                    segments.append(Segment(word, (), (QueryTerm(as_typed, "query", "literal"),), as_typed))
                start += 1
        return Expansion(text, tuple(segments), self.resolve_keyword)

    def _segment(self, phrase: str, as_typed: str, concepts: list[Concept]) -> Segment:
        # One term per (words, vocabulary): sea_surface_temperature is shown as a CF name and a GCMD keyword.
        terms: dict[tuple[str, str], QueryTerm] = {}

        def add(term: str, vocabulary: str, relation: str, concept: str) -> None:
            candidate = QueryTerm(term, vocabulary, relation, concept)
            if not candidate.key or (candidate.key, vocabulary) in terms:
                return
            if vocabulary == "gaia-lab" and candidate.key in seen:
                return  # the hand-made layer's copy of a published term or of the user's words adds nothing
            terms[candidate.key, vocabulary] = candidate
            seen.add(candidate.key)

        seen: set[str] = set()

        add(as_typed, "query", "literal", "")
        equivalents: dict[str, Concept] = {}
        for concept in concepts:
            equivalents.setdefault(concept.id, concept)
            for linked in self._links(concept):
                equivalents.setdefault(linked.id, linked)
        # A GCMD keyword reached through a link brings its own CF names along (OCEAN TEMPERATURE's CF equivalents).
        for concept in list(equivalents.values()):
            if concept.vocabulary == "GCMD":
                for linked in self._links(concept):
                    equivalents.setdefault(linked.id, linked)
        # The same words in two vocabularies are shown as the published vocabulary's term.
        ordered_equivalents = sorted(equivalents.values(), key=lambda c: _VOCABULARY_ORDER.get(c.vocabulary, 9))
        for concept in ordered_equivalents:
            for label in concept.terms:
                add(label, concept.vocabulary, "synonym", concept.id)
        narrower: list[Concept] = []
        for concept in ordered_equivalents:
            for child in self._narrower(concept):
                narrower += [child, *self._links(child)]
        for child in narrower[:_NARROWER_LIMIT]:
            for label in child.labels:
                add(label, child.vocabulary, "narrower", child.id)
        for concept in ordered_equivalents:
            for parent in self._broader(concept):
                add(parent.label, parent.vocabulary, "broader", parent.id)
        ordered = sorted(terms.values(), key=lambda t: _RANK[t.relation])
        return Segment(phrase, tuple(concepts), tuple(ordered), as_typed)


def _hand_concept(concept_id: str, fields: dict[str, tuple[str, ...]]) -> Concept:
    labels = tuple(dict.fromkeys([*fields.get("en", ()), *fields.get("fr", ())]))
    links = tuple(
        [f"CF:{n}" for n in fields.get("cf", ())]
        + [f"GCMD:{p.strip()}" for p in fields.get("gcmd", ())]
        + [f"GEMET:{g}" for g in fields.get("gemet", ())]
    )
    label = labels[0] if labels else concept_id
    return Concept(concept_id, "gaia-lab", label, labels, (), links, fields=fields)


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
        fields: dict[str, tuple[str, ...]] = {}
        for kind in _LABEL_FIELDS:
            values = raw.get(kind) or []
            if kind == "gemet":
                values = [str(v) for v in values] if isinstance(values, list) else values
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise ConfigError(f"concept {raw['id']!r}: {kind} must be a list of strings", source=source)
            fields[kind] = tuple(values)
        concepts.append(_hand_concept(raw["id"], fields))
    return concepts


@lru_cache(maxsize=8)
def _cached(paths: tuple[str, ...]) -> Thesaurus:
    return Thesaurus.from_files(paths)


def load_thesaurus(extra: Sequence[str | os.PathLike[str]] = ()) -> Thesaurus:
    """The packaged thesaurus, extended by ``$GAIA_LAB_THESAURUS`` (os.pathsep-separated) and ``extra`` files.

    Cheap: the published vocabularies are read at the first query expansion, once per process."""
    env = [p for p in os.environ.get("GAIA_LAB_THESAURUS", "").split(os.pathsep) if p]
    return _cached(tuple(str(p) for p in [*env, *extra]))
