"""OGC API - Records catalogues (pygeoapi, pycsw 3, GeoNetwork 4's OGC API) over plain HTTP.

A search asks ``/collections/{id}/items`` with ``q`` (the query's words and thesaurus terms, comma-separated: the
standard ORs them), ``bbox`` and ``datetime``, and follows ``next`` links until the query's limit. A server's
``numberMatched`` is not trusted to end the paging: a page that brings no new record, a ``next`` link already
followed or :data:`MAX_PAGES` pages end it. OWSLib's Records client builds one request per call and does not follow
``next`` links, so requests does the paging here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from threading import Lock
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urljoin

import requests

from gaia_lab.catalog.entry import Entry
from gaia_lab.catalog.federation import ProviderConfig
from gaia_lab.catalog.providers.base import Provider
from gaia_lab.catalog.providers.csw import text_terms
from gaia_lab.catalog.providers.iso import Record, metadata_bbox, metadata_interval, record_entry
from gaia_lab.catalog.providers.links import Link, open_links
from gaia_lab.catalog.providers.stac_io import retrying_session
from gaia_lab.errors import EntryNotFound, ProviderAuthError, ProviderError, ProviderTimeout
from gaia_lab.query import CubeRequest, Query, format_interval

if TYPE_CHECKING:
    import xarray as xr

PAGE_SIZE = 100
MAX_PAGES = 200
RECORD_ITEM_TYPE = "record"


class OgcApiRecordsProvider(Provider):
    """``type: ogcapi-records``: the record collections of an OGC API - Records server."""

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        self.session = retrying_session(self.timeout)
        self._collections: list[str] | None = None
        self._lock = Lock()

    @property
    def kind(self) -> str:
        return "ogcapi-records"

    @property
    def base(self) -> str:
        return self.url.split("?", 1)[0].rstrip("/") + "/"

    def _get(self, url: str, params: Mapping[str, str] | None = None) -> dict[str, Any]:
        headers = {"Accept": "application/geo+json, application/json", **dict(self.config.headers)}
        try:
            response = self.session.get(url, params=params, headers=headers, timeout=self.timeout)
        except requests.Timeout:
            raise ProviderTimeout(self.name, f"no answer within {self.timeout:g} s", url=url) from None
        except requests.RequestException as error:
            raise ProviderError(self.name, f"unreachable: {type(error).__name__}", url=url) from None
        if response.status_code in (401, 403):
            raise ProviderAuthError(
                self.name, f"HTTP {response.status_code}: credentials refused", url=url, status=response.status_code
            )
        if response.status_code == 404:
            raise ProviderError(self.name, "HTTP 404: not found", url=response.url, status=404)
        if response.status_code >= 400:
            detail = response.text.strip()[:200]
            raise ProviderError(
                self.name, f"HTTP {response.status_code}: {detail}", url=response.url, status=response.status_code
            )
        try:
            document = response.json()
        except ValueError as error:
            raise ProviderError(self.name, f"malformed JSON: {error}", url=response.url) from None
        if not isinstance(document, dict):
            raise ProviderError(self.name, "malformed answer: not a JSON object", url=response.url)
        return document

    def collections(self) -> list[str]:
        """The collections searched: the configured one, else every collection whose items are records."""
        with self._lock:
            if self._collections is None:
                configured = str(getattr(self.config, "collection", "") or "")
                if configured:
                    self._collections = [configured]
                else:
                    listing = self._get(urljoin(self.base, "collections"), {"f": "json"})
                    found = [c for c in listing.get("collections") or [] if isinstance(c, Mapping) and "id" in c]
                    records = [str(c["id"]) for c in found if c.get("itemType") == RECORD_ITEM_TYPE]
                    if not records:
                        raise ProviderError(
                            self.name,
                            f"no collection with itemType 'record' among {[c['id'] for c in found]}; "
                            "set the provider's collection",
                            url=self.url,
                        )
                    self._collections = records
            return list(self._collections)

    def _items_url(self, collection: str) -> str:
        return urljoin(self.base, f"collections/{collection}/items")

    def _pages(self, collection: str, params: dict[str, str], limit: int | None) -> Iterator[list[Mapping[str, Any]]]:
        url: str | None = f"{self._items_url(collection)}?{urlencode(params)}"
        followed: set[str] = set()
        seen: set[str] = set()
        count = 0
        for _ in range(MAX_PAGES):
            if url is None or url in followed:
                return
            followed.add(url)
            page = self._get(url)
            features = [f for f in page.get("features") or [] if isinstance(f, Mapping)]
            fresh = [f for f in features if str(f.get("id")) not in seen]
            if not fresh:
                return
            seen.update(str(f.get("id")) for f in fresh)
            count += len(fresh)
            yield fresh
            if limit is not None and count >= limit:
                return
            url = _next_link(page, url)

    def search(self, query: Query) -> list[Entry]:
        params = {"f": "json", "limit": str(min(PAGE_SIZE, query.limit) if query.limit else PAGE_SIZE)}
        terms = [term.replace(",", " ") for term in text_terms(query)]
        if terms:
            params["q"] = ",".join(terms)
        if query.bbox is not None:
            params["bbox"] = ",".join(f"{v:g}" for v in query.bbox)
        if query.datetime is not None:
            params["datetime"] = format_interval(query.datetime)
        entries: list[Entry] = []
        for collection in self.collections():
            for page in self._pages(collection, params, query.limit):
                for feature in page:
                    entry = record_entry(self, record_from_geojson(feature, collection))
                    if entry.matches(query):
                        entries.append(entry)
        return entries[: query.limit] if query.limit is not None else entries

    def get(self, local_id: str) -> Entry:
        collection, _, record_id = local_id.partition("/")
        if not record_id:
            raise EntryNotFound(f"{self.name}/{local_id}", "record ids look like '<collection>/<record id>'")
        try:
            feature = self._get(urljoin(self.base, f"collections/{collection}/items/{record_id}"), {"f": "json"})
        except ProviderError as error:
            if error.status == 404:
                raise EntryNotFound(f"{self.name}/{local_id}", f"no record {record_id!r} in {collection!r}") from None
            raise
        return record_entry(self, record_from_geojson(feature, collection))

    def open(self, entry: Entry, request: CubeRequest) -> xr.Dataset:
        record = entry.source if isinstance(entry.source, Record) else self.get(entry.local_id).source
        return open_links(
            record.links,
            request,
            entry_id=entry.id,
            provider=self.name,
            storage_options=dict(self.config.storage_options),
            headers=dict(self.config.headers),
            timeout=self.timeout,
        )


def _next_link(page: Mapping[str, Any], current: str) -> str | None:
    for link in page.get("links") or []:
        if isinstance(link, Mapping) and link.get("rel") == "next" and link.get("href"):
            return urljoin(current, str(link["href"]))
    return None


def _coordinates(geometry: object) -> Iterable[tuple[float, float]]:
    if isinstance(geometry, Mapping):
        if geometry.get("type") == "GeometryCollection":
            for part in geometry.get("geometries") or []:
                yield from _coordinates(part)
            return
        yield from _coordinates(geometry.get("coordinates"))
    elif isinstance(geometry, list | tuple):
        if len(geometry) >= 2 and all(isinstance(v, int | float) for v in geometry[:2]):
            yield float(geometry[0]), float(geometry[1])
        else:
            for part in geometry:
                yield from _coordinates(part)


def _footprint(feature: Mapping[str, Any]) -> Any:
    bbox = feature.get("bbox")
    if isinstance(bbox, list) and len(bbox) in (4, 6):
        half = len(bbox) // 2
        return metadata_bbox(bbox[0], bbox[1], bbox[half], bbox[half + 1])
    points = list(_coordinates(feature.get("geometry")))
    if not points:
        return None
    xs, ys = zip(*points, strict=True)
    return metadata_bbox(min(xs), min(ys), max(xs), max(ys))


def _interval(feature: Mapping[str, Any]) -> Any:
    time = feature.get("time")
    properties = feature.get("properties") or {}
    if isinstance(time, Mapping):
        if isinstance(time.get("interval"), list) and len(time["interval"]) == 2:
            start, end = time["interval"]
            return metadata_interval(None if start == ".." else start, None if end == ".." else end)
        instant = time.get("timestamp") or time.get("date")
        if instant:
            return metadata_interval(instant, instant)
    start = properties.get("start_datetime") or properties.get("datetime")
    end = properties.get("end_datetime") or properties.get("datetime")
    return metadata_interval(start, end)


def record_from_geojson(feature: Mapping[str, Any], collection: str) -> Record:
    """A record from OGC API - Records GeoJSON: title, description, keywords, themes (concepts with their scheme),
    time, footprint and links."""
    properties = feature.get("properties") or {}
    record_id = str(feature.get("id") or properties.get("identifier") or "")
    if not record_id:
        raise ProviderError("ogcapi-records", f"a record of {collection!r} has no id")
    record = Record(
        identifier=f"{collection}/{record_id}",
        title=str(properties.get("title") or record_id),
        abstract=str(properties.get("description") or ""),
        schema="ogcapi-records",
    )
    for keyword in properties.get("keywords") or []:
        if isinstance(keyword, str):
            record.add_keyword(keyword)
    for theme in properties.get("themes") or []:
        if not isinstance(theme, Mapping):
            continue
        scheme = str(theme.get("scheme") or "") or None
        for concept in theme.get("concepts") or []:
            if isinstance(concept, Mapping):
                record.add_keyword(str(concept.get("id") or concept.get("title") or ""), scheme)
            elif isinstance(concept, str):
                record.add_keyword(concept, scheme)
    record.bbox = _footprint(feature)
    record.interval = _interval(feature)
    record.links = [
        Link(
            href=str(link["href"]),
            protocol=str(link.get("rel") or ""),
            media_type=str(link.get("type") or ""),
            name=str(link.get("title") or link.get("name") or ""),
            rel=str(link.get("rel") or ""),
        )
        for link in [*(feature.get("links") or []), *(properties.get("associations") or [])]
        if isinstance(link, Mapping) and link.get("href")
    ]
    return record
