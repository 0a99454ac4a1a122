"""ISO 19139 records for the lake's collections, as the real ODATIS (Sextant) and AERIS catalogues publish them.

One ``<collection>.iso.xml`` next to each collection's STAC (``<lake>/<provider>/<collection>/``): title,
abstract, geographic and temporal extent, keywords grouped by thesaurus (GCMD Science Keywords for the ``A > B``
paths, the CF Standard Name Table for the collection's standard names, the rest free), and online resources
pointing at the data: the Zarr store where there is one, and the STAC collection (which lists the COGs).
A CSW (``gaia_lab/datalake/pycsw.py``) publishes them.

Links are ``file://`` URIs by default; ``base_url`` makes them URLs under the address the lake is served at.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pystac
from lxml import etree

GMD = "http://www.isotc211.org/2005/gmd"
GCO = "http://www.isotc211.org/2005/gco"
GML = "http://www.opengis.net/gml"
XLINK = "http://www.w3.org/1999/xlink"
NSMAP = {"gmd": GMD, "gco": GCO, "gml": GML, "xlink": XLINK}
GCMD_THESAURUS = "GCMD Science Keywords"
CF_THESAURUS = "CF Standard Name Table"
# The data hubs whose real catalogues speak CSW / ISO 19115.
ISO_HUBS = ("odatis", "aeris")
RECORD_SUFFIX = ".iso.xml"


@dataclass
class OnlineResource:
    url: str
    protocol: str
    name: str = ""
    description: str = ""


@dataclass
class IsoDescription:
    """What one ISO 19139 record says."""

    identifier: str
    title: str
    abstract: str
    bbox: tuple[float, float, float, float] | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    # (thesaurus title or None for free keywords, keywords)
    keywords: list[tuple[str | None, list[str]]] = field(default_factory=list)
    online: list[OnlineResource] = field(default_factory=list)
    organisation: str = "GAIA Lab"
    date: dt.date = field(default_factory=lambda: dt.date(2026, 1, 1))


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    prefix, _, local = tag.partition(":")
    element = etree.SubElement(parent, f"{{{NSMAP[prefix]}}}{local}")
    if text is not None:
        element.text = text
    return element


def _string(parent: etree._Element, tag: str, text: str) -> None:
    _sub(_sub(parent, tag), "gco:CharacterString", text)


def _code(parent: etree._Element, tag: str, code_list: str, value: str) -> None:
    element = _sub(_sub(parent, tag), f"gmd:{code_list}", value)
    element.set("codeList", f"http://standards.iso.org/iso/19139/resources/gmxCodelists.xml#{code_list}")
    element.set("codeListValue", value)


def _stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_record(description: IsoDescription) -> bytes:
    """The gmd:MD_Metadata document (UTF-8 bytes)."""
    root = etree.Element(f"{{{GMD}}}MD_Metadata", nsmap=NSMAP)
    _string(root, "gmd:fileIdentifier", description.identifier)
    _string(root, "gmd:language", "eng")
    _code(root, "gmd:hierarchyLevel", "MD_ScopeCode", "dataset")
    contact = _sub(_sub(root, "gmd:contact"), "gmd:CI_ResponsibleParty")
    _string(contact, "gmd:organisationName", description.organisation)
    _code(contact, "gmd:role", "CI_RoleCode", "pointOfContact")
    _sub(_sub(root, "gmd:dateStamp"), "gco:Date", description.date.isoformat())
    _string(root, "gmd:metadataStandardName", "ISO 19115:2003/19139")
    _string(root, "gmd:metadataStandardVersion", "1.0")
    identification = _sub(_sub(root, "gmd:identificationInfo"), "gmd:MD_DataIdentification")
    citation = _sub(_sub(identification, "gmd:citation"), "gmd:CI_Citation")
    _string(citation, "gmd:title", description.title)
    cited = _sub(_sub(citation, "gmd:date"), "gmd:CI_Date")
    _sub(_sub(cited, "gmd:date"), "gco:Date", description.date.isoformat())
    _code(cited, "gmd:dateType", "CI_DateTypeCode", "publication")
    _string(identification, "gmd:abstract", description.abstract)
    for thesaurus, words in description.keywords:
        group = _sub(_sub(identification, "gmd:descriptiveKeywords"), "gmd:MD_Keywords")
        for word in words:
            _string(group, "gmd:keyword", word)
        _code(group, "gmd:type", "MD_KeywordTypeCode", "theme")
        if thesaurus:
            name = _sub(_sub(group, "gmd:thesaurusName"), "gmd:CI_Citation")
            _string(name, "gmd:title", thesaurus)
            thesaurus_date = _sub(_sub(name, "gmd:date"), "gmd:CI_Date")
            _sub(_sub(thesaurus_date, "gmd:date"), "gco:Date", description.date.isoformat())
            _code(thesaurus_date, "gmd:dateType", "CI_DateTypeCode", "publication")
    _string(identification, "gmd:language", "eng")
    _sub(_sub(identification, "gmd:topicCategory"), "gmd:MD_TopicCategoryCode", "climatologyMeteorologyAtmosphere")
    if description.bbox is not None or description.start is not None or description.end is not None:
        extent = _sub(_sub(identification, "gmd:extent"), "gmd:EX_Extent")
        if description.bbox is not None:
            box = _sub(_sub(extent, "gmd:geographicElement"), "gmd:EX_GeographicBoundingBox")
            for tag, value in zip(
                ("westBoundLongitude", "eastBoundLongitude", "southBoundLatitude", "northBoundLatitude"),
                (description.bbox[0], description.bbox[2], description.bbox[1], description.bbox[3]),
                strict=True,
            ):
                _sub(_sub(box, f"gmd:{tag}"), "gco:Decimal", repr(float(value)))
        if description.start is not None or description.end is not None:
            temporal = _sub(_sub(extent, "gmd:temporalElement"), "gmd:EX_TemporalExtent")
            period = _sub(_sub(temporal, "gmd:extent"), "gml:TimePeriod")
            period.set(f"{{{GML}}}id", f"period-{zlib.crc32(description.identifier.encode()):08x}")
            begin = _sub(period, "gml:beginPosition", _stamp(description.start) if description.start else None)
            end = _sub(period, "gml:endPosition", _stamp(description.end) if description.end else None)
            for position, moment in ((begin, description.start), (end, description.end)):
                if moment is None:
                    position.set("indeterminatePosition", "unknown")
    if description.online:
        distribution = _sub(_sub(root, "gmd:distributionInfo"), "gmd:MD_Distribution")
        options = _sub(_sub(distribution, "gmd:transferOptions"), "gmd:MD_DigitalTransferOptions")
        for resource in description.online:
            online = _sub(_sub(options, "gmd:onLine"), "gmd:CI_OnlineResource")
            _sub(_sub(online, "gmd:linkage"), "gmd:URL", resource.url)
            _string(online, "gmd:protocol", resource.protocol)
            if resource.name:
                _string(online, "gmd:name", resource.name)
            if resource.description:
                _string(online, "gmd:description", resource.description)
            _code(online, "gmd:function", "CI_OnLineFunctionCode", "download")
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def _standard_names(collection: pystac.Collection) -> set[str]:
    variables = collection.extra_fields.get("cube:variables") or {}
    names = {str(v.get("attrs", {}).get("standard_name") or "") for v in variables.values() if isinstance(v, dict)}
    return {name for name in names if name}


def group_keywords(keywords: Iterable[str], standard_names: set[str]) -> list[tuple[str | None, list[str]]]:
    """Keywords by thesaurus: ``A > B`` paths are GCMD Science Keywords; CF standard names (declared by the cube,
    or snake_case words) the CF table; the rest free."""
    gcmd: list[str] = []
    cf: list[str] = []
    free: list[str] = []
    for keyword in keywords:
        if " > " in keyword:
            gcmd.append(keyword)
        elif keyword in standard_names or ("_" in keyword and keyword == keyword.lower() and " " not in keyword):
            cf.append(keyword)
        else:
            free.append(keyword)
    groups: list[tuple[str | None, list[str]]] = []
    for thesaurus, words in ((GCMD_THESAURUS, gcmd), (CF_THESAURUS, cf), (None, free)):
        if words:
            groups.append((thesaurus, words))
    return groups


def _href(path: Path, lake: Path, base_url: str | None) -> str:
    if base_url is None:
        return path.resolve().as_uri()
    return f"{base_url.rstrip('/')}/{path.resolve().relative_to(lake.resolve()).as_posix()}"


def collection_description(
    collection: pystac.Collection, provider: str, lake: Path, base_url: str | None = None
) -> IsoDescription:
    """The ISO description of a lake collection read from its STAC (saved, so its hrefs are real files)."""
    bbox = collection.extent.spatial.bboxes[0] if collection.extent.spatial.bboxes else None
    interval = collection.extent.temporal.intervals[0] if collection.extent.temporal.intervals else [None, None]
    collection_path = Path(collection.get_self_href() or "")
    online: list[OnlineResource] = []
    for key, asset in collection.assets.items():
        if "zarr" in (asset.roles or []) or str(asset.media_type or "").endswith("zarr"):
            href = Path(asset.get_absolute_href() or "")
            online.append(OnlineResource(_href(href, lake, base_url), "WWW:DOWNLOAD-Zarr", key, asset.title or ""))
    online.append(
        OnlineResource(
            _href(collection_path, lake, base_url), "OGC:STAC", "STAC collection", "the collection and its items"
        )
    )
    box = None
    if bbox is not None:
        west, south, east, north = (float(v) for v in (bbox[0], bbox[1], bbox[-2], bbox[-1]))
        box = (max(west, -180.0), max(south, -90.0), min(east, 180.0), min(north, 90.0))
    return IsoDescription(
        identifier=f"{provider}:{collection.id}",
        title=collection.title or collection.id,
        abstract=collection.description or "",
        bbox=box,
        start=interval[0],
        end=interval[1],
        keywords=group_keywords(collection.keywords or [], _standard_names(collection)),
        online=online,
        organisation={"odatis": "ODATIS", "aeris": "AERIS"}.get(provider, provider.upper()),
    )


def write_iso_records(
    lake: Path, providers: Sequence[str] = ISO_HUBS, *, base_url: str | None = None, target: Path | None = None
) -> list[Path]:
    """One ``<collection>.iso.xml`` per collection of ``providers``: beside its collection.json, or in
    ``target/<provider>/`` (a server's copy, its links under ``base_url``); the paths written."""
    written: list[Path] = []
    for provider in providers:
        catalog_path = lake / provider / "catalog.json"
        if not catalog_path.exists():
            continue
        catalog = pystac.Catalog.from_file(str(catalog_path))
        for collection in catalog.get_children():
            if not isinstance(collection, pystac.Collection):
                continue
            description = collection_description(collection, provider, lake, base_url)
            directory = Path(collection.get_self_href() or "").parent if target is None else target / provider
            directory.mkdir(parents=True, exist_ok=True)
            path = directory / f"{collection.id}{RECORD_SUFFIX}"
            path.write_bytes(iso_record(description))
            written.append(path)
    return written
