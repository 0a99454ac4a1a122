"""Metadata records as entries: ISO 19115/19139 and Dublin Core (read by OWSLib) and OGC API - Records GeoJSON,
each first read into one :class:`Record`, then made an :class:`~gaia_lab.catalog.entry.Entry`.

Real records are uneven: no extent, a point for a box, keywords escaped twice (``Oceans &gt; Salinity``), online
resources in the distributor's transfer options rather than the distribution's. A record lacking a part still
becomes an entry; it just cannot be filtered on that part.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gaia_lab.catalog.entry import Entry
from gaia_lab.catalog.providers.base import Provider
from gaia_lab.catalog.providers.links import Link, data_links
from gaia_lab.errors import InvalidQuery
from gaia_lab.query import BBox, Interval, parse_bbox, parse_timestamp


@dataclass
class Record:
    """What an entry needs from a metadata record, whatever its schema."""

    identifier: str
    title: str
    abstract: str = ""
    keywords: list[str] = field(default_factory=list)
    # keyword -> title of its thesaurus (ISO descriptiveKeywords, Records themes' scheme)
    keyword_thesauri: dict[str, str] = field(default_factory=dict)
    bbox: BBox | None = None
    interval: Interval | None = None
    links: list[Link] = field(default_factory=list)
    schema: str = "iso19139"

    def add_keyword(self, keyword: str, thesaurus: str | None = None) -> None:
        word = _text(keyword)
        if not word:
            return
        if word not in self.keywords:
            self.keywords.append(word)
        if thesaurus and word not in self.keyword_thesauri:
            self.keyword_thesauri[word] = _text(thesaurus)


def _text(value: object) -> str:
    """A record's string with its whitespace and doubled XML escapes (``&gt;`` in text) undone."""
    return " ".join(html.unescape(str(value)).split()) if value is not None else ""


def metadata_bbox(west: object, south: object, east: object, north: object) -> BBox | None:
    """A footprint from a record's four bounds; None when one is missing or unreadable."""
    if any(v is None or str(v).strip() == "" for v in (west, south, east, north)):
        return None
    try:
        return parse_bbox([west, south, east, north], normalize=True)
    except InvalidQuery:
        return None


def metadata_interval(start: object, end: object) -> Interval | None:
    begin, finish = parse_timestamp(_text(start) or None), parse_timestamp(_text(end) or None)
    if begin is None and finish is None:
        return None
    if begin is not None and finish is not None and begin > finish:
        begin, finish = finish, begin
    return (begin, finish)


def _unique_links(links: Iterable[Link]) -> list[Link]:
    seen: set[tuple[str, str]] = set()
    kept: list[Link] = []
    for link in links:
        key = (link.href, link.protocol)
        if link.href and key not in seen:
            seen.add(key)
            kept.append(link)
    return kept


def from_iso(metadata: Any) -> Record:
    """A record from OWSLib's ``MD_Metadata`` (gmd:MD_Metadata and gmi:MI_Metadata)."""
    identifications = metadata.identification or []
    if not isinstance(identifications, list):
        identifications = [identifications]
    ident = identifications[0] if identifications else None
    record = Record(
        identifier=_text(metadata.identifier),
        title=_text(getattr(ident, "title", None)) or _text(metadata.identifier),
        abstract=_text(getattr(ident, "abstract", None)),
    )
    for group in getattr(ident, "keywords", None) or []:
        thesaurus = (group.thesaurus or {}).get("title") if isinstance(group.thesaurus, Mapping) else None
        for keyword in group.keywords or []:
            record.add_keyword(getattr(keyword, "name", None) or "", thesaurus)
    for topic in getattr(ident, "topiccategory", None) or []:
        record.add_keyword(topic, "ISO 19115 topic category")
    box = getattr(ident, "bbox", None)
    if box is not None:
        record.bbox = metadata_bbox(box.minx, box.miny, box.maxx, box.maxy)
    # OWSLib sets the temporal attributes only when the record has an extent element.
    record.interval = metadata_interval(
        getattr(ident, "temporalextent_start", None), getattr(ident, "temporalextent_end", None)
    )
    record.links = _unique_links([*_iso_links(metadata), *_service_links(identifications)])
    return record


def _service_links(identifications: Sequence[Any]) -> Iterable[Link]:
    """Connect points of the record's service identifications (THREDDS/ncISO records put their OPeNDAP endpoint
    there, not in the distribution); the service type stands for a missing protocol."""
    for ident in identifications:
        service = _text(getattr(ident, "type", None))
        for operation in getattr(ident, "operations", None) or []:
            for point in operation.get("connectpoint") or []:
                yield Link(
                    href=_text(point.url),
                    protocol=_text(point.protocol) or service,
                    name=_text(point.name) or _text(operation.get("name")),
                )


def _iso_links(metadata: Any) -> Iterable[Link]:
    distribution = metadata.distribution
    if distribution is None:
        return
    resources = list(distribution.online or [])
    for distributor in distribution.distributor or []:
        resources.extend(getattr(distributor, "online", None) or [])
    for resource in resources:
        yield Link(
            href=_text(resource.url),
            protocol=_text(resource.protocol),
            name=_text(resource.name),
            description=_text(resource.description),
        )


def from_dublin_core(record: Any) -> Record:
    """A record from OWSLib's ``CswRecord`` (csw:Record, Dublin Core)."""
    found = Record(
        identifier=_text(record.identifier),
        title=_text(record.title) or _text(record.identifier),
        abstract=_text(record.abstract),
        schema="dublin-core",
    )
    for subject in record.subjects or []:
        found.add_keyword(subject)
    box = record.bbox
    if box is not None:
        found.bbox = metadata_bbox(box.minx, box.miny, box.maxx, box.maxy)
    links = [
        Link(href=_text(uri.get("url")), protocol=_text(uri.get("protocol")), name=_text(uri.get("name")))
        for uri in record.uris or []
    ]
    links += [Link(href=_text(ref.get("url")), protocol=_text(ref.get("scheme"))) for ref in record.references or []]
    found.links = _unique_links(links)
    return found


def record_entry(provider: Provider, record: Record, *, kind: str = "collection") -> Entry:
    """The entry ``<provider>/<record identifier>``; its source is the record (what opening reads)."""
    formats = sorted({str(link.kind) for link in data_links(record.links)})
    return Entry(
        id=f"{provider.name}/{record.identifier}",
        provider=provider.name,
        hub=provider.hub,
        title=record.title,
        description=record.abstract,
        bbox=record.bbox,
        datetime=record.interval,
        keywords=list(record.keywords),
        keyword_thesauri=dict(record.keyword_thesauri),
        kind=kind,
        assets=_asset_names(record.links),
        formats=formats,
        source=record,
        _provider=provider,
    )


def _asset_names(links: Sequence[Link]) -> dict[str, str]:
    """Links by name; unnamed or repeated names (two "CSV" downloads) get their position appended."""
    named: dict[str, str] = {}
    for position, link in enumerate(links):
        key = link.name or f"link-{position}"
        if key in named:
            key = f"{key}-{position}"
        named[key] = link.href
    return named


def link_summary(links: Sequence[Link]) -> list[dict[str, str]]:
    return [link.to_dict() for link in links]
