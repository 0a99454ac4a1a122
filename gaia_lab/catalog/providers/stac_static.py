"""Static STAC catalogs and collections (catalog.json / collection.json) read through pystac, local, http(s) or s3."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cached_property
from itertools import islice
from threading import Lock
from types import ModuleType
from typing import TYPE_CHECKING, Any

import pystac

from gaia_lab.catalog.entry import Entry
from gaia_lab.catalog.federation import ProviderConfig
from gaia_lab.catalog.providers.base import Provider
from gaia_lab.catalog.providers.stac_convert import as_source, collection_entry, item_entry
from gaia_lab.catalog.providers.stac_io import ProviderStacIO
from gaia_lab.catalog.providers.static_items import read_item_records
from gaia_lab.errors import EntryNotFound, ProviderError
from gaia_lab.query import CubeRequest, Query
from gaia_lab.stac_item import StacItem, index_asset, opens_items

if TYPE_CHECKING:
    import xarray as xr


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

            def accept(item: StacItem, collection_id: str = collection.id) -> Entry | None:
                entry = item_entry(self, item, collection_id=collection_id)
                if entry.matches(query) and (not filter or predicate(item.properties)):
                    return entry
                return None

            index = self.index_href(collection)
            if index is not None:  # decoded lazily: islice stops the index's reading at the limit
                accepted = self._index_items(index).search_index(index, query, accept, provider=self.name)
            else:
                accepted = (entry for entry in map(accept, self.items(collection)) if entry is not None)
            found.extend(islice(accepted, None if query.limit is None else query.limit - len(found)))
            if query.limit is not None and len(found) >= query.limit:
                return found
        return found

    def _index_items(self, href: str) -> ModuleType:
        """``index_items``, imported when an indexed collection is first searched (pyarrow and stac-geoparquet are
        the ``index`` extra)."""
        try:
            from gaia_lab.catalog.providers import index_items
        except ImportError as error:
            raise ProviderError(
                self.name, f"searching the item index {href} needs {error.name}: pip install 'gaia-lab[index]'"
            ) from None
        return index_items

    def index_href(self, collection: pystac.Collection) -> str | None:
        """The local stac-geoparquet file listing ``collection``'s items (an asset of role ``stac-items``), if any:
        its items are then searched there (``index_items``), not in item files."""
        key = index_asset({k: a.to_dict() for k, a in collection.assets.items()})
        if key is None:
            return None
        href = collection.assets[key].get_absolute_href() or collection.assets[key].href
        if "://" in href and not href.startswith("file://"):
            return None  # a local href of a remote collection: not a file here
        return href.removeprefix("file://")

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
        index = self.index_href(collection)
        if index is not None:
            record = self._index_items(index).find_item(index, item_id, provider=self.name)
            if record is None:
                raise EntryNotFound(f"{self.name}/{local_id}", f"no item {item_id!r} in the index of {collection_id!r}")
            return item_entry(self, record, collection_id=collection_id)
        item = collection.get_item(item_id, recursive=True)
        if item is None:
            raise EntryNotFound(f"{self.name}/{local_id}", f"no item {item_id!r} in collection {collection_id!r}")
        return item_entry(self, StacItem.from_pystac(item), collection_id=collection_id)

    def open(self, entry: Entry, request: CubeRequest) -> xr.Dataset:
        # A search needs none of the cube stack (dask, rasterio, odc-stac): it is imported on the first open.
        from gaia_lab.cube import open_stac

        source = as_source(entry.source)
        items = None
        if opens_items(source):
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
