"""OGC CSW 2.0.2 and 3.0 catalogues (GeoNetwork, pycsw, ...) through OWSLib.

A search is one GetRecords per page: a full-text constraint (the query's words and its thesaurus-expanded terms,
OR-ed, so a French query reaches English records), a BBOX constraint and a temporal one (ISO queryables), paged by
``startPosition`` / ``nextRecord`` until the query's limit. Records come as ISO 19139 (``gmd`` output schema) when
the server offers it, else as Dublin Core. The version is the highest the capabilities offer, unless the
provider's ``version`` forces one.
"""

from __future__ import annotations

import datetime as dt
import re
import warnings
from collections.abc import Callable
from functools import partial
from threading import Lock
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlencode

import requests
from lxml import etree
from owslib.ows import ExceptionReport
from owslib.util import ServiceException

from gaia_lab.catalog.entry import Entry
from gaia_lab.catalog.federation import ProviderConfig
from gaia_lab.catalog.providers.base import Provider
from gaia_lab.catalog.providers.iso import Record, from_dublin_core, from_iso, record_entry
from gaia_lab.catalog.providers.links import open_links
from gaia_lab.errors import EntryNotFound, GaiaLabError, ProviderAuthError, ProviderError, ProviderTimeout
from gaia_lab.query import CubeRequest, Query

if TYPE_CHECKING:
    import xarray as xr

GMD = "http://www.isotc211.org/2005/gmd"
GMI = "http://www.isotc211.org/2005/gmi"
# EPSG:4326 as a URN orders axes latitude first.
EPSG_4326 = "urn:ogc:def:crs:EPSG::4326"
CSW202 = "http://www.opengis.net/cat/csw/2.0.2"
CSW30 = "http://www.opengis.net/cat/csw/3.0"
PAGE_SIZE = 50
# More OR-ed terms than this and some servers refuse the filter or take seconds per page.
MAX_TERMS = 40
# A server whose nextRecord never advances must not keep a search going.
MAX_PAGES = 200
_T = TypeVar("_T")


def _stamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def text_terms(query: Query) -> list[str]:
    """What the full-text constraint looks for: the query as typed, then its expanded terms (or its words)."""
    terms: dict[str, None] = {}
    if query.q:
        terms[query.q.strip()] = None
    expanded = [str(getattr(term, "term", term)) for term in query.terms]
    if not expanded and query.q:
        expanded = [word for word in re.split(r"\W+", query.q) if len(word) > 2]
    for term in expanded:
        for variant in (term, term.replace("_", " ")):
            if variant.strip():
                terms[variant.strip()] = None
    return list(terms)[:MAX_TERMS]


def parse_records(response: bytes, *, iso: bool, v3: bool) -> list[Record]:
    """The records of a GetRecords / GetRecordById response, through OWSLib's record classes. OWSLib's own
    listing drops gmi:MI_Metadata records (ISO 19115-2) whenever a gmd:MD_Metadata shares the page."""
    root = etree.fromstring(response)
    if iso:
        from owslib.iso import MD_Metadata

        elements = root.iter(f"{{{GMD}}}MD_Metadata", f"{{{GMI}}}MI_Metadata")
        return [from_iso(MD_Metadata(element)) for element in elements]
    if v3:
        from owslib.catalogue.csw3 import Csw30Record

        return [from_dublin_core(Csw30Record(e)) for e in root.iter(f"{{{CSW30}}}Record", f"{{{CSW30}}}SummaryRecord")]
    from owslib.csw import CswRecord

    return [from_dublin_core(CswRecord(e)) for e in root.iter(f"{{{CSW202}}}Record", f"{{{CSW202}}}SummaryRecord")]


class CswProvider(Provider):
    """``type: csw``: an OGC Catalogue Service for the Web."""

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        self._client: Any = None
        self._schemas: list[str] = []
        self._request_lock = Lock()
        self._lock = Lock()

    @property
    def kind(self) -> str:
        return "csw"

    # -- connection -------------------------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        """OWSLib's client for the negotiated version (capabilities read once)."""
        with self._lock:
            if self._client is None:
                version, schemas = self._call(self._capabilities)
                self._client = self._call(lambda: self._connect(version))
                self._schemas = schemas
            return self._client

    def _forced_version(self) -> str | None:
        forced = str(getattr(self.config, "version", "") or "")
        if not forced:
            return None
        return "3.0.0" if forced.startswith("3") else "2.0.2"

    def _capabilities(self) -> tuple[str, list[str]]:
        """The version and the GetRecords output schemas, from the capabilities. Without a forced version, the
        server's answer to a GetCapabilities without version is its highest by the standard (some servers,
        pycsw 2.6 among them, refuse a list of AcceptVersions)."""
        parameters = {"service": "CSW", "request": "GetCapabilities"}
        forced = self._forced_version()
        if forced:
            parameters["version"] = forced
        url = f"{self.url.split('?', 1)[0]}?{urlencode(parameters)}"
        response = requests.get(url, headers=dict(self.config.headers), timeout=self.timeout)
        self._check_status(response)
        root = etree.fromstring(response.content)
        self._raise_exception_report(root)
        if root.tag == f"{{{CSW30}}}Capabilities":
            offered = {str(v.text).strip() for v in root.iter("{*}ServiceTypeVersion") if v.text}
            # FES 2 spatial operands are GML, which servers validating requests against their FES 2 schema refuse
            # when that schema imports no GML (pycsw 2.6): where the server also speaks 2.0.2, the BBOX goes there.
            version = "2.0.2" if "2.0.2" in offered and not forced else "3.0.0"
        elif root.tag == f"{{{CSW202}}}Capabilities":
            version = "2.0.2"
        else:
            raise ProviderError(self.name, f"not CSW capabilities (root element {root.tag})", url=self.url)
        # OWSLib 0.35 reads no allowed values from OWS 2.0 capabilities: the schemas are read here, for both.
        schemas = [
            str(value.text).strip()
            for operation in root.iter("{*}Operation")
            if operation.get("name") == "GetRecords"
            for parameter in operation.iter("{*}Parameter")
            if parameter.get("name", "").lower() == "outputschema"
            for value in parameter.iter("{*}Value")
            if value.text
        ]
        return version, schemas

    def _connect(self, version: str) -> Any:
        options = {"timeout": self.timeout, "headers": dict(self.config.headers) or None}
        if version == "3.0.0":
            from owslib.catalogue.csw3 import CatalogueServiceWeb as Csw3

            return Csw3(self.url, version="3.0.0", **options)
        from owslib.csw import CatalogueServiceWeb as Csw2

        return Csw2(self.url, version="2.0.2", **options)

    @property
    def version(self) -> str:
        return str(self.client.version)

    @property
    def offers_iso(self) -> bool:
        """Whether GetRecords can answer in ISO 19139 (the capabilities list the gmd output schema)."""
        self.client  # noqa: B018 - reads the capabilities once
        return GMD in self._schemas

    def _check_status(self, response: requests.Response) -> None:
        if response.status_code in (401, 403):
            raise ProviderAuthError(
                self.name,
                f"HTTP {response.status_code}: credentials refused",
                url=self.url,
                status=response.status_code,
            )
        if response.status_code >= 400:
            raise ProviderError(self.name, f"HTTP {response.status_code}", url=self.url, status=response.status_code)

    def _raise_exception_report(self, root: Any) -> None:
        if etree.QName(root).localname == "ExceptionReport":
            texts = [" ".join(t.split()) for t in root.itertext() if t.strip()]
            codes = [e.get("exceptionCode") for e in root.iter() if e.get("exceptionCode")]
            raise ProviderError(self.name, f"exception report {codes}: {'; '.join(texts)[:300]}", url=self.url)

    def _call(self, action: Callable[[], _T]) -> _T:
        """Run an OWSLib call, turning what it raises into ProviderErrors naming this provider."""
        try:
            with warnings.catch_warnings():
                # OWSLib warns when a server gives no nextRecord; paging copes with that.
                warnings.simplefilter("ignore")
                return action()
        except GaiaLabError:
            raise
        except (ExceptionReport, ServiceException) as error:
            raise ProviderError(
                self.name, f"the server answered with an exception report: {error}", url=self.url
            ) from None
        except requests.Timeout:
            raise ProviderTimeout(self.name, f"no answer within {self.timeout:g} s", url=self.url) from None
        except requests.HTTPError as error:
            status = error.response.status_code if error.response is not None else None
            if status in (401, 403):
                raise ProviderAuthError(
                    self.name, f"HTTP {status}: credentials refused", url=self.url, status=status
                ) from None
            raise ProviderError(self.name, f"HTTP {status}: {error}", url=self.url, status=status) from None
        except requests.RequestException as error:
            raise ProviderError(self.name, f"unreachable: {type(error).__name__}", url=self.url) from None
        except etree.XMLSyntaxError as error:
            raise ProviderError(self.name, f"malformed XML: {error}", url=self.url) from None
        except RuntimeError as error:
            # OWSLib: "Document is XML, but not CSW-ish" (an HTML error page, another service), then the request.
            detail = str(error).split(",", 1)[0]
            raise ProviderError(self.name, f"the answer is not a CSW response ({detail})", url=self.url) from None
        except (ValueError, KeyError, TypeError, AttributeError, IndexError) as error:
            # OWSLib's "Document is XML, but not CSW-ish", or a response missing what the standard requires.
            raise ProviderError(self.name, f"malformed answer: {type(error).__name__}: {error}", url=self.url) from None

    # -- search -----------------------------------------------------------------------------------------------

    def _constraints(self, query: Query, iso: bool) -> list[Any]:
        """One AND-ed group: text OR-ed, bbox (both sides of the antimeridian OR-ed), time overlap."""
        v3 = self.version.startswith("3")
        if v3:
            from owslib import fes2 as fes
        else:
            from owslib import fes
        text_property = "csw:AnyText"
        parts: list[Any] = []
        terms = text_terms(query)
        if terms:
            # CSW 3 (FES 2) has no matchCase on PropertyIsLike; FES 1.1 servers compare case-insensitively when told.
            case = {} if v3 else {"matchCase": False}
            likes = [fes.PropertyIsLike(text_property, f"%{term}%", wildCard="%", **case) for term in terms]
            parts.append(likes[0] if len(likes) == 1 else fes.Or(likes))
        if query.bbox is not None and not v3:
            # CSW 3: the footprint is compared here (Entry.matches), for the reason given in _capabilities.
            boxes = [fes.BBox([p.south, p.west, p.north, p.east], crs=EPSG_4326) for p in query.bbox.parts()]
            parts.append(boxes[0] if len(boxes) == 1 else fes.Or(boxes))
        if query.datetime is not None and iso:
            start, end = query.datetime
            if start is not None:
                parts.append(fes.PropertyIsGreaterThanOrEqualTo("apiso:TempExtent_end", _stamp(start)))
            if end is not None:
                parts.append(fes.PropertyIsLessThanOrEqualTo("apiso:TempExtent_begin", _stamp(end)))
        if not parts:
            return []
        return [parts[0]] if len(parts) == 1 else [parts]

    def _get_records(self, constraints: list[Any], iso: bool, start: int, size: int) -> tuple[list[Record], int | None]:
        client = self.client
        # OWSLib keeps each answer on the client (results, response): one request at a time per provider.
        with self._request_lock:
            return self._get_records_locked(client, constraints, iso, start, size)

    def _get_records_locked(
        self, client: Any, constraints: list[Any], iso: bool, start: int, size: int
    ) -> tuple[list[Record], int | None]:
        # OWSLib's CSW 3.0 client names the request getrecords, its 2.0.2 client getrecords2 (getrecords is legacy).
        if self.version.startswith("3"):
            request, schema, typenames = client.getrecords, GMD if iso else CSW30, "csw30:Record"
        else:
            request, schema, typenames = client.getrecords2, GMD if iso else CSW202, "csw:Record"
        request(
            constraints=constraints,
            typenames="gmd:MD_Metadata" if iso else typenames,
            esn="full",
            outputschema=schema,
            startposition=start,
            maxrecords=size,
        )
        results = client.results
        records = parse_records(client.response, iso=iso, v3=self.version.startswith("3"))
        following = results.get("nextrecord")
        matches = int(results.get("matches") or 0)
        if not following or following <= start or following > matches:
            following = None
        return [r for r in records if r.identifier], following

    def search(self, query: Query) -> list[Entry]:
        iso = self._call(lambda: self.offers_iso)
        constraints = self._call(lambda: self._constraints(query, iso))
        limit = query.limit
        entries: list[Entry] = []
        seen: set[str] = set()
        position = 1
        for _ in range(MAX_PAGES):
            size = PAGE_SIZE if limit is None else min(PAGE_SIZE, limit - len(entries))
            records, following = self._call(partial(self._get_records, constraints, iso, position, size))
            fresh = [r for r in records if r.identifier not in seen]
            for record in fresh:
                seen.add(record.identifier)
                entry = record_entry(self, record)
                if entry.matches(query):
                    entries.append(entry)
            if following is None or not fresh or (limit is not None and len(entries) >= limit):
                break
            position = following
        return entries[:limit] if limit is not None else entries

    def get(self, local_id: str) -> Entry:
        # A GetRecords on the identifier rather than GetRecordById: servers answer the latter in ISO with a bare
        # gmd:MD_Metadata document that OWSLib's CSW 3 client refuses.
        iso = self._call(lambda: self.offers_iso)

        def fetch() -> list[Record]:
            if self.version.startswith("3"):
                from owslib import fes2 as fes
            else:
                from owslib import fes
            equal = fes.PropertyIsEqualTo("apiso:Identifier" if iso else "dc:identifier", local_id)
            return self._get_records([equal], iso, 1, 10)[0]

        found = [r for r in self._call(fetch) if r.identifier == local_id]
        if not found:
            raise EntryNotFound(f"{self.name}/{local_id}", f"no record with this identifier in CSW {self.name!r}")
        return record_entry(self, found[0])

    def open(self, entry: Entry, request: CubeRequest) -> xr.Dataset:
        record = entry.source
        if not isinstance(record, Record):
            record = self.get(entry.local_id).source
        return open_links(
            record.links,
            request,
            entry_id=entry.id,
            provider=self.name,
            storage_options=dict(self.config.storage_options),
            headers=dict(self.config.headers),
            timeout=self.timeout,
        )
