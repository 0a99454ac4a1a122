"""STAC providers: static catalogs (pystac) and STAC APIs (pystac-client), told apart by reading the root."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
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
from gaia_lab.cube import open_stac
from gaia_lab.errors import EntryNotFound, ProviderError
from gaia_lab.query import CubeRequest, Query
from gaia_lab.stac_item import (
    StacItem,
    asset_dicts,
    collection_bbox,
    collection_formats,
    collection_interval,
    collection_variables,
    zarr_asset,
)


def collection_entry(provider: Provider, collection: pystac.Collection, local_id: str | None = None) -> Entry:
    return Entry(
        id=f"{provider.name}/{local_id or collection.id}",
        provider=provider.name,
        hub=str(collection.extra_fields.get("gaia:hub") or provider.hub),
        title=collection.title or collection.id,
        description=collection.description or "",
        bbox=collection_bbox(collection),
        datetime=collection_interval(collection),
        variables=collection_variables(collection),
        keywords=list(collection.keywords or []),
        kind="collection",
        assets={k: str(a["href"]) for k, a in asset_dicts(collection).items()},
        formats=collection_formats(collection),
        source=collection,
        _provider=provider,
    )


class EncodedItem(bytes):
    """An item found by an API search, kept as its JSON until its entry is opened.

    A federated search holds thousands of items. As dicts, each is a tree of small containers: a 10,000-item result
    held 52 MiB and 190,000 more objects for the cyclic garbage collector to walk, against 25 MiB encoded.
    Encoding one with orjson takes microseconds."""

    @classmethod
    def encode(cls, document: Mapping[str, Any]) -> EncodedItem:
        return cls(orjson.dumps(document))

    def item(self) -> StacItem:
        decoded = orjson.loads(memoryview(self))  # orjson takes exact bytes types, not subclasses
        assert isinstance(decoded, dict)
        return StacItem.from_dict(decoded)


def item_entry(
    provider: Provider,
    item: StacItem,
    source: StacItem | EncodedItem | None = None,
    *,
    collection_id: str | None = None,
) -> Entry:
    """The entry of one item (``<provider>/<collection>/<item>``; ``collection_id`` where the item does not name
    its collection); ``source`` is what opening it decodes, the record itself by default."""
    collection = item.collection or collection_id
    local = f"{collection}/{item.id}" if collection else item.id
    return Entry(
        id=f"{provider.name}/{local}",
        provider=provider.name,
        hub=str(item.properties.get("gaia:hub") or provider.hub),
        title=item.title,
        description=str(item.properties.get("description") or ""),
        bbox=item.bbox,
        datetime=item.interval if item.interval != (None, None) else None,
        variables=item.variables(),
        keywords=list(item.properties.get("keywords") or []),
        kind="item",
        assets={k: str(a.get("href", "")) for k, a in item.assets.items()},
        formats=item.formats(),
        source=item if source is None else source,
        _provider=provider,
    )


def as_source(source: Any) -> pystac.Collection | StacItem:
    """What an entry's source opens as: a collection, or an item record (API items stay encoded until then)."""
    if isinstance(source, EncodedItem):
        return source.item()
    if isinstance(source, pystac.Collection | StacItem):
        return source
    raise ProviderError("stac", f"cannot open a source of type {type(source).__name__}")


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
        return [entry for entry in self.entries() if entry.matches(query)]

    def items(self, collection: pystac.Collection) -> list[StacItem]:
        return read_item_records(collection, self.stac_io.read_text_from_href, self.name)

    def search_items(self, query: Query, filter: Mapping[str, Any] | None = None) -> list[Entry]:
        if filter:
            from gaia_lab.catalog.providers.cql2 import matches

            predicate = matches(filter, provider=self.name)
        found: list[Entry] = []
        for collection in self.collections.values():
            if query.collections and collection.id not in query.collections:
                continue
            for item in self.items(collection):
                entry = item_entry(self, item, collection_id=collection.id)
                if entry.matches(query) and (not filter or predicate(item.properties)):
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
        return item_entry(self, StacItem.from_pystac(item), collection_id=collection_id)

    def open(self, entry: Entry, request: CubeRequest) -> xr.Dataset:
        source = as_source(entry.source)
        items = None
        if isinstance(source, pystac.Collection) and zarr_asset(asset_dicts(source)) is None:
            items = self.items(source)
        return open_stac(
            source,
            request,
            entry_id=entry.id,
            items=items,
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

    def open(self, entry: Entry, request: CubeRequest) -> xr.Dataset:
        return self.delegate.open(entry, request)
