"""STAC providers: static catalogs (pystac) and STAC APIs (pystac-client), told apart by reading the root."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from functools import cached_property
from threading import Lock
from typing import Any

import orjson
import pystac
import xarray as xr

from gaia_lab.catalog.entry import Entry
from gaia_lab.catalog.federation import ProviderConfig
from gaia_lab.catalog.providers.base import Provider
from gaia_lab.catalog.providers.stac_io import ProviderStacIO
from gaia_lab.catalog.providers.static_items import read_item_records
from gaia_lab.catalog.query import BBox, Interval, Query, bbox_intersects, interval_intersects, parse_datetime
from gaia_lab.cube import open_stac
from gaia_lab.cube.records import parse_datetime as parse_timestamp
from gaia_lab.cube.stac import zarr_asset
from gaia_lab.errors import EntryNotFound, ProviderError


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _media_formats(media_types: list[str | None], hrefs: list[str]) -> list[str]:
    formats: dict[str, None] = {}
    for media_type, href in zip(media_types, hrefs, strict=True):
        text = (media_type or "").lower()
        if "zarr" in text or href.rstrip("/").endswith(".zarr"):
            formats["zarr"] = None
        elif "cloud-optimized" in text:
            formats["cog"] = None
        elif "tiff" in text or href.lower().endswith((".tif", ".tiff")):
            formats["geotiff"] = None
        elif "netcdf" in text or href.endswith(".nc"):
            formats["netcdf"] = None
    return list(formats)


def _variables(stac: pystac.Collection | pystac.Item) -> list[str]:
    cube_variables = stac.extra_fields.get("cube:variables") or (
        stac.properties.get("cube:variables") if isinstance(stac, pystac.Item) else None
    )
    names: dict[str, None] = {}
    if isinstance(cube_variables, Mapping):
        names.update(dict.fromkeys(k for k, v in cube_variables.items() if (v or {}).get("type", "data") == "data"))
    item_assets = stac.extra_fields.get("item_assets")
    if isinstance(item_assets, Mapping):
        names.update(dict.fromkeys(k for k, a in item_assets.items() if "data" in (a.get("roles") or ["data"])))
    if isinstance(stac, pystac.Item) and not names:
        names.update(dict.fromkeys(k for k, a in stac.assets.items() if not a.roles or "data" in a.roles))
    return list(names)


def collection_entry(provider: Provider, collection: pystac.Collection, local_id: str | None = None) -> Entry:
    bboxes = collection.extent.spatial.bboxes
    bbox = tuple(bboxes[0][:2] + bboxes[0][-2:]) if bboxes and bboxes[0] else None
    intervals = collection.extent.temporal.intervals
    interval = (_utc(intervals[0][0]), _utc(intervals[0][1])) if intervals and intervals[0] else None
    assets = {k: a.get_absolute_href() or a.href for k, a in collection.assets.items()}
    item_assets = collection.extra_fields.get("item_assets") or {}
    media = [a.media_type for a in collection.assets.values()] + [
        a.get("type") for a in item_assets.values() if isinstance(a, Mapping)
    ]
    hrefs = list(assets.values()) + ["" for _ in item_assets]
    return Entry(
        id=f"{provider.name}/{local_id or collection.id}",
        provider=provider.name,
        hub=str(collection.extra_fields.get("gaia:hub") or provider.hub),
        title=collection.title or collection.id,
        description=collection.description or "",
        bbox=bbox,  # type: ignore[arg-type]
        datetime=interval,
        variables=_variables(collection),
        keywords=list(collection.keywords or []),
        kind="collection",
        assets=assets,
        formats=_media_formats(media, hrefs),
        source=collection,
        _provider=provider,
    )


def item_entry(provider: Provider, item: pystac.Item, collection_id: str | None) -> Entry:
    start = item.common_metadata.start_datetime or item.datetime
    end = item.common_metadata.end_datetime or item.datetime
    assets = {k: a.get_absolute_href() or a.href for k, a in item.assets.items()}
    local = f"{collection_id}/{item.id}" if collection_id else item.id
    return Entry(
        id=f"{provider.name}/{local}",
        provider=provider.name,
        hub=str(item.properties.get("gaia:hub") or provider.hub),
        title=str(item.properties.get("title") or item.id),
        description=str(item.properties.get("description") or ""),
        bbox=tuple(item.bbox[:2] + item.bbox[-2:]) if item.bbox else None,  # type: ignore[arg-type]
        datetime=(_utc(start), _utc(end)),
        variables=_variables(item),
        keywords=list(item.properties.get("keywords") or []),
        kind="item",
        assets=assets,
        formats=_media_formats([a.media_type for a in item.assets.values()], list(assets.values())),
        source=item,
        _provider=provider,
    )


def _item_interval(start: object, end: object) -> Interval | None:
    """An item's time span. Items carry RFC 3339 timestamps, which ``datetime.fromisoformat`` reads in a
    microsecond; the query parser (periods, open ends, pandas) is kept for anything else, at 0.3 ms a call."""
    if not start and not end:
        return None
    fast = (parse_timestamp(start), parse_timestamp(end))
    if (start and fast[0] is None) or (end and fast[1] is None):
        return parse_datetime((start or "..", end or ".."))
    return fast


class EncodedItem(bytes):
    """An item found by an API search, kept as its JSON until its entry is opened.

    A federated search holds thousands of items. As dicts, each is a tree of small containers: a 10,000-item result
    held 52 MiB and 190,000 more objects for the cyclic garbage collector to walk, against 25 MiB encoded.
    Encoding one with orjson takes microseconds."""

    @classmethod
    def encode(cls, document: Mapping[str, Any]) -> EncodedItem:
        return cls(orjson.dumps(document))

    def document(self) -> dict[str, Any]:
        decoded = orjson.loads(memoryview(self))  # orjson takes exact bytes types, not subclasses
        assert isinstance(decoded, dict)
        return decoded


def item_entry_from_dict(provider: Provider, item: Mapping[str, Any]) -> Entry:
    """An item entry straight from API JSON: building pystac objects waits until the entry is opened,
    which keeps federated item searches of thousands of items cheap."""
    properties = item.get("properties") or {}
    start = properties.get("start_datetime") or properties.get("datetime")
    end = properties.get("end_datetime") or properties.get("datetime")
    interval = _item_interval(start, end)
    collection_id = item.get("collection")
    local = f"{collection_id}/{item['id']}" if collection_id else str(item["id"])
    assets = {k: str(a.get("href", "")) for k, a in (item.get("assets") or {}).items()}
    bbox = item.get("bbox")
    return Entry(
        id=f"{provider.name}/{local}",
        provider=provider.name,
        hub=str(properties.get("gaia:hub") or provider.hub),
        title=str(properties.get("title") or item["id"]),
        description=str(properties.get("description") or ""),
        bbox=(bbox[0], bbox[1], bbox[-2], bbox[-1]) if bbox else None,
        datetime=interval,
        variables=[k for k, a in (item.get("assets") or {}).items() if "data" in (a.get("roles") or ["data"])],
        keywords=list(properties.get("keywords") or []),
        kind="item",
        assets=assets,
        formats=_media_formats([a.get("type") for a in (item.get("assets") or {}).values()], list(assets.values())),
        source=EncodedItem.encode(item),
        _provider=provider,
    )


def as_stac(source: Any) -> Any:
    """The pystac object behind an entry's source (item entries from APIs keep their JSON until opened)."""
    if isinstance(source, EncodedItem):
        return pystac.Item.from_dict(source.document(), preserve_dict=False)
    return pystac.Item.from_dict(dict(source)) if isinstance(source, Mapping) else source


def structured_match(entry: Entry, query: Query) -> bool:
    """Whether an entry passes the bbox / datetime / collections / variables filters (metadata only)."""
    if query.bbox is not None and entry.bbox is not None and not bbox_intersects(query.bbox, entry.bbox):
        return False
    if (
        query.datetime is not None
        and entry.datetime is not None
        and not interval_intersects(query.datetime, entry.datetime)
    ):
        return False
    if query.collections and entry.local_id.split("/")[0] not in query.collections:
        return False
    if query.variables:
        wanted = {v.lower() for v in query.variables}
        present = {v.lower() for v in entry.variables} | {k.lower() for k in entry.keywords}
        if not wanted & present:
            return False
    return True


class StaticStacProvider(Provider):
    """A static STAC catalog or collection (catalog.json / collection.json), local, http(s) or s3."""

    def __init__(self, config: ProviderConfig, root: pystac.STACObject | None = None) -> None:
        super().__init__(config)
        self._root = root
        self._lock = Lock()

    @property
    def kind(self) -> str:
        return "stac-static"

    @cached_property
    def stac_io(self) -> ProviderStacIO:
        return ProviderStacIO(
            self.name,
            headers=dict(self.config.headers),
            timeout=self.timeout,
            storage_options=dict(self.config.storage_options),
        )

    @property
    def root(self) -> pystac.Catalog:
        with self._lock:
            if self._root is None:
                self._root = self.stac_io.read_stac(self.url)
            if not isinstance(self._root, pystac.Catalog):  # Collection subclasses Catalog
                raise ProviderError(self.name, "the root is not a STAC catalog or collection", url=self.url)
            return self._root

    @cached_property
    def collections(self) -> dict[str, pystac.Collection]:
        root = self.root
        found: dict[str, pystac.Collection] = {}
        if isinstance(root, pystac.Collection):
            found[root.id] = root
        try:
            for collection in root.get_all_collections():
                found.setdefault(collection.id, collection)
        except ProviderError:
            raise
        except (pystac.STACError, KeyError, ValueError) as error:
            raise ProviderError(self.name, f"cannot walk the catalog: {error}", url=self.url) from None
        return found

    def entries(self) -> Iterator[Entry]:
        for collection in self.collections.values():
            yield collection_entry(self, collection)

    def search(self, query: Query) -> list[Entry]:
        return [entry for entry in self.entries() if structured_match(entry, query)]

    def search_items(self, query: Query, filter: Mapping[str, Any] | None = None) -> list[Entry]:
        if filter:
            from gaia_lab.catalog.providers.cql2 import matches

            predicate = matches(filter, provider=self.name)
        found: list[Entry] = []
        for collection in self.collections.values():
            if not structured_match(collection_entry(self, collection), Query(collections=query.collections)):
                continue
            for item in collection.get_items(recursive=True):
                entry = item_entry(self, item, collection.id)
                if structured_match(entry, query) and (not filter or predicate(item.properties)):
                    found.append(entry)
                    if query.limit is not None and len(found) >= query.limit:
                        return found
        return found

    def get(self, local_id: str) -> Entry:
        collection_id, _, item_id = local_id.partition("/")
        collection = self.collections.get(collection_id)
        if collection is None:
            raise EntryNotFound(
                f"{self.name}/{local_id}",
                f"no collection {collection_id!r} in provider {self.name!r}; it has {sorted(self.collections)}",
            )
        if not item_id:
            return collection_entry(self, collection)
        item = collection.get_item(item_id, recursive=True)
        if item is None:
            raise EntryNotFound(f"{self.name}/{local_id}", f"no item {item_id!r} in collection {collection_id!r}")
        return item_entry(self, item, collection_id)

    def open(
        self,
        entry: Entry,
        *,
        bbox: BBox | None,
        datetime: Interval | None,
        variables: Sequence[str] | None,
        crs: object | None,
        resolution: float | None,
        chunks: Mapping[str, int] | None,
    ) -> xr.Dataset:
        source = as_stac(entry.source)
        items = None
        if isinstance(source, pystac.Collection) and zarr_asset(source) is None:
            items = read_item_records(source, self.stac_io.read_text_from_href, self.name)
        return open_stac(
            source,
            entry_id=entry.id,
            items=items,
            bbox=bbox,
            datetime=datetime,
            variables=variables,
            crs=crs,
            resolution=resolution,
            chunks=chunks,
            storage_options=self.storage_options(),
            provider=self.name,
        )

    def storage_options(self) -> dict[str, Any]:
        options = dict(self.config.storage_options)
        if self.config.headers and self.url.startswith(("http://", "https://")):
            options.setdefault("headers", dict(self.config.headers))
        return options


def _looks_like_api(document: Mapping[str, Any]) -> bool:
    conforms = document.get("conformsTo") or []
    if any("item-search" in str(c) for c in conforms):
        return True
    return any(link.get("rel") == "search" for link in document.get("links", []) if isinstance(link, Mapping))


def detect_stac_provider(config: ProviderConfig) -> Provider:
    """A STAC API provider when the root says it searches, else a static catalog provider.

    Detection is deferred to first use so that building a Catalog never touches the network.
    """
    return LazyStacProvider(config)


class LazyStacProvider(Provider):
    """Reads the root once, on first use, then delegates to the static or API provider."""

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        self._delegate: Provider | None = None
        self._lock = Lock()

    @property
    def delegate(self) -> Provider:
        with self._lock:
            if self._delegate is None:
                io = ProviderStacIO(
                    self.name,
                    headers=dict(self.config.headers),
                    timeout=self.timeout,
                    storage_options=dict(self.config.storage_options),
                )
                document = io.json_loads(io.read_text_from_href(self.url))
                if _looks_like_api(document):
                    from gaia_lab.catalog.providers.stac_api import StacApiProvider

                    self._delegate = StacApiProvider(self.config, document)
                else:
                    try:
                        root = pystac.read_dict(document, href=self.url, stac_io=io)
                    except (pystac.STACError, pystac.STACTypeError, KeyError, ValueError, TypeError) as error:
                        raise ProviderError(self.name, f"not a valid STAC document: {error}", url=self.url) from None
                    self._delegate = StaticStacProvider(self.config, root)
            return self._delegate

    @property
    def kind(self) -> str:
        return self._delegate.kind if self._delegate is not None else "stac"

    def search(self, query: Query) -> list[Entry]:
        return self.delegate.search(query)

    def search_items(self, query: Query, filter: Mapping[str, Any] | None = None) -> list[Entry]:
        return self.delegate.search_items(query, filter)

    def get(self, local_id: str) -> Entry:
        return self.delegate.get(local_id)

    def open(self, entry: Entry, **kwargs: Any) -> xr.Dataset:
        return self.delegate.open(entry, **kwargs)
