"""STAC API providers through pystac-client: collections as entries, item search with paging for opening.

Item filters use CQL2 (``filter``) when the server conforms to the Filter extension, the older ``query``
extension otherwise; transient HTTP errors (429, 502-504, connection resets) are retried with backoff.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from threading import Lock
from typing import TYPE_CHECKING, Any

import pystac
import requests
from pystac_client import Client
from pystac_client.exceptions import APIError
from pystac_client.stac_api_io import StacApiIO

from gaia_lab.bulk import prefetched
from gaia_lab.catalog.entry import Entry
from gaia_lab.catalog.federation import ProviderConfig
from gaia_lab.catalog.providers.base import Provider
from gaia_lab.catalog.providers.stac_convert import EncodedItem, as_source, collection_entry, item_entry
from gaia_lab.catalog.providers.stac_io import transient_retry
from gaia_lab.errors import EmptyResult, EntryNotFound, GaiaLabError, ProviderAuthError, ProviderError, ProviderTimeout
from gaia_lab.query import BBox, CubeRequest, Interval, Query, format_interval
from gaia_lab.stac_item import StacItem, opens_items

if TYPE_CHECKING:
    import xarray as xr

# Collections change rarely; a short cache spares the server one /collections walk per search.
COLLECTIONS_TTL = 60.0
PAGE_SIZE = 500


class StacApiProvider(Provider):
    """A STAC API (item-search conformance) searched through pystac-client."""

    def __init__(self, config: ProviderConfig, root_document: Mapping[str, Any] | None = None) -> None:
        super().__init__(config)
        self._client: Client | None = None
        self._collections: tuple[float, dict[str, pystac.Collection]] | None = None
        self._lock = Lock()
        self.root_document = dict(root_document or {})

    @property
    def kind(self) -> str:
        return "stac-api"

    @property
    def client(self) -> Client:
        with self._lock:
            if self._client is None:
                io = StacApiIO(
                    headers=dict(self.config.headers),
                    timeout=self.timeout,
                    max_retries=transient_retry(self.timeout),
                )
                self._client = self._call(lambda: Client.open(self.url, stac_io=io, timeout=self.timeout))
            return self._client

    def _call(self, action: Any) -> Any:
        """Run a pystac-client call, turning its errors into ProviderErrors naming this provider."""
        try:
            return action()
        except GaiaLabError:
            raise
        except APIError as error:
            status = getattr(error, "status_code", None)
            if status in (401, 403):
                raise ProviderAuthError(
                    self.name,
                    f"HTTP {status}: credentials refused; check the provider's headers/token",
                    url=self.url,
                    status=status,
                ) from None
            detail = str(error).strip()[:200] or "no detail"
            raise ProviderError(self.name, f"HTTP {status or 'error'}: {detail}", url=self.url, status=status) from None
        except requests.Timeout:
            raise ProviderTimeout(self.name, f"no answer within {self.timeout:g} s", url=self.url) from None
        except requests.exceptions.RetryError as error:
            raise ProviderError(self.name, f"still failing after retries: {error}", url=self.url) from None
        except requests.RequestException as error:
            raise ProviderError(self.name, f"unreachable: {type(error).__name__}", url=self.url) from None
        except (ValueError, KeyError, TypeError, pystac.STACError) as error:
            # requests' JSONDecodeError is a ValueError: the server answered something that is not STAC JSON.
            raise ProviderError(self.name, f"malformed answer: {type(error).__name__}: {error}", url=self.url) from None

    def collections(self) -> dict[str, pystac.Collection]:
        cached = self._collections
        if cached is not None and time.monotonic() - cached[0] < COLLECTIONS_TTL:
            return cached[1]
        found = self._call(lambda: {c.id: c for c in self.client.get_collections()})
        self._collections = (time.monotonic(), found)
        return found  # type: ignore[no-any-return]

    def conforms_to(self, conformance: str) -> bool:
        return bool(self._call(lambda: self.client.conforms_to(conformance)))

    def search(self, query: Query) -> list[Entry]:
        return [
            entry for entry in (collection_entry(self, c) for c in self.collections().values()) if entry.matches(query)
        ]

    def fetch_items(
        self,
        *,
        collections: Sequence[str] | None = None,
        bbox: BBox | None = None,
        datetime: Interval | None = None,
        filter: Mapping[str, Any] | None = None,
        max_items: int | None = None,
    ) -> list[StacItem]:
        """Items matching the query, every page followed (up to ``max_items``), as records: item dicts, not
        ``pystac.Item`` objects, whose construction would cost more than the transfer."""
        kwargs = self._search_arguments(
            collections=collections, bbox=bbox, datetime=datetime, filter=filter, max_items=max_items
        )
        records: list[StacItem] = self._call(
            lambda: [StacItem.from_dict(feature) for page in self._pages(kwargs) for feature in page]
        )
        return records

    def _pages(self, kwargs: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        """The items of a search, page by page as they arrive: the next page is asked for before this one is
        handled, so that the server's time and the conversion of the items overlap."""
        search = self.client.search(**kwargs)
        for page in prefetched(search.pages_as_dicts(), name=f"gaia-pages-{self.name}"):
            yield page.get("features") or []

    def _search_arguments(
        self,
        *,
        collections: Sequence[str] | None,
        bbox: BBox | None,
        datetime: Interval | None,
        filter: Mapping[str, Any] | None,
        max_items: int | None,
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "collections": list(collections) if collections else None,
            "bbox": list(bbox) if bbox else None,
            "datetime": format_interval(datetime) if datetime else None,
            "max_items": max_items,
            "limit": min(PAGE_SIZE, max_items) if max_items else PAGE_SIZE,
        }
        if filter:
            kwargs.update(self._filter_arguments(filter))
        return kwargs

    def _filter_arguments(self, cql2: Mapping[str, Any]) -> dict[str, Any]:
        from gaia_lab.catalog.providers.cql2 import to_query_extension

        if self.conforms_to("FILTER"):
            return {"filter": dict(cql2), "filter_lang": "cql2-json"}
        return {"query": to_query_extension(cql2, provider=self.name)}

    def search_items(self, query: Query, filter: Mapping[str, Any] | None = None) -> list[Entry]:
        kwargs = self._search_arguments(
            collections=query.collections,
            bbox=query.bbox,
            datetime=query.datetime,
            filter=filter,
            max_items=query.limit,
        )
        entries: list[Entry] = self._call(
            lambda: [
                item_entry(self, StacItem.from_dict(item), EncodedItem.encode(item))
                for page in self._pages(kwargs)
                for item in page
            ]
        )
        return entries

    def get(self, local_id: str) -> Entry:
        collection_id, _, item_id = local_id.partition("/")
        collections = self.collections()
        if collection_id not in collections:
            raise EntryNotFound(
                f"{self.name}/{local_id}",
                f"no collection {collection_id!r} in provider {self.name!r}; it has {sorted(collections)}",
            )
        if not item_id:
            return collection_entry(self, collections[collection_id])
        found = self._call(
            lambda: list(self.client.search(collections=[collection_id], ids=[item_id]).items_as_dicts())
        )
        if not found:
            raise EntryNotFound(f"{self.name}/{local_id}", f"no item {item_id!r} in collection {collection_id!r}")
        return item_entry(self, StacItem.from_dict(found[0]), collection_id=collection_id)

    def open(self, entry: Entry, request: CubeRequest) -> xr.Dataset:
        # A search needs none of the cube stack (dask, rasterio, odc-stac): it is imported on the first open.
        from gaia_lab.cube import open_stac

        source = as_source(entry.source)
        items: list[StacItem] | None = None
        if opens_items(source):
            # The server filters items by bbox and time, so only the matching footprints travel.
            items = self.fetch_items(collections=[source.id], bbox=request.bbox, datetime=request.datetime)
            if not items and (request.bbox or request.datetime):
                raise EmptyResult(
                    entry.id, "bbox/datetime", f"{request.bbox} / {request.datetime}: the server found no items"
                )
        return open_stac(
            source,
            request,
            entry_id=entry.id,
            items=items,
            storage_options=dict(self.config.storage_options),
            provider=self.name,
        )
