"""The provider interface every catalogue type implements."""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gaia_lab.catalog.entry import Entry
from gaia_lab.catalog.federation import ProviderConfig
from gaia_lab.query import CubeRequest, Query

if TYPE_CHECKING:
    import xarray as xr


class Provider(abc.ABC):
    """One catalogue of the federation: lists, searches and opens its entries."""

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config

    @property
    def name(self) -> str:
        return str(self.config.name)

    @property
    def hub(self) -> str:
        return str(self.config.hub)

    @property
    def type(self) -> str:
        return str(self.config.type)

    @property
    def url(self) -> str:
        return str(self.config.url)

    @property
    def title(self) -> str:
        return str(self.config.display_title)

    @property
    def timeout(self) -> float:
        return float(self.config.timeout)

    @property
    def kind(self) -> str:
        """What the provider really is once detected (``stac-static``, ``stac-api``, ``intake``, ``intake-esm``)."""
        return self.type

    @abc.abstractmethod
    def search(self, query: Query) -> list[Entry]:
        """Entries matching the structured parts of ``query`` (bbox, datetime, collections, variables).

        Text relevance is scored by the federation, so a provider may return entries that do not match ``q``;
        providers that can filter text server-side use ``query.terms``.
        """

    def search_items(self, query: Query, filter: Mapping[str, Any] | None = None) -> list[Entry]:
        """Item-level entries (STAC items). Catalogues without items answer with their datasets, or with nothing
        when the query filters on item properties they do not have."""
        return [] if filter else self.search(query)

    @abc.abstractmethod
    def get(self, local_id: str) -> Entry:
        """The entry ``<provider>/<local_id>``; raises EntryNotFound."""

    @abc.abstractmethod
    def open(self, entry: Entry, request: CubeRequest) -> xr.Dataset:
        """Open ``entry`` as a lazy Dataset, selected and gridded as ``request`` says."""

    def open_table(self, entry: Entry, request: CubeRequest) -> Any:
        """Open ``entry``'s GeoParquet asset as a GeoDataFrame (entries found as STAC collections or items)."""
        from gaia_lab.catalog.providers.stac_convert import as_source
        from gaia_lab.cube import open_stac_table
        from gaia_lab.errors import EntryNotOpenable, ProviderError

        try:
            source = as_source(entry.source)
        except ProviderError:
            raise EntryNotOpenable(entry.id, "not a STAC entry: it has no GeoParquet asset to open") from None
        return open_stac_table(
            source, request, entry_id=entry.id, storage_options=dict(self.config.storage_options) or None
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} hub={self.hub!r} url={self.url!r}>"
