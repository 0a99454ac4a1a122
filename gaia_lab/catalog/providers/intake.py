"""intake 2 catalogues: each entry whose reader produces an xarray Dataset becomes a GAIA Lab entry.

Entry metadata keys understood: title, description, keywords, variables, bbox, datetime (or start/end_datetime),
hub.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from threading import Lock
from typing import Any

import xarray as xr

from gaia_lab.catalog.entry import Entry
from gaia_lab.catalog.federation import ProviderConfig
from gaia_lab.catalog.providers.base import Provider
from gaia_lab.catalog.providers.metadata import bbox_from, interval_from, string_list
from gaia_lab.errors import AssetError, EntryNotFound, ProviderError
from gaia_lab.query import CubeRequest, Query


class IntakeProvider(Provider):
    """An intake (version 2) YAML catalogue, local or remote (fsspec)."""

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        self._lock = Lock()

    @cached_property
    def catalog(self) -> Any:
        import intake

        with self._lock:
            try:
                return intake.from_yaml_file(self.url, **dict(self.config.storage_options))
            except FileNotFoundError:
                raise ProviderError(self.name, "catalogue file not found", url=self.url) from None
            except Exception as error:  # intake re-raises yaml, fsspec and import errors as they come
                raise ProviderError(
                    self.name, f"cannot load the intake catalogue: {type(error).__name__}: {error}", url=self.url
                ) from None

    def _entry(self, name: str) -> Entry:
        description = self.catalog.entries[name]
        metadata: Mapping[str, Any] = description.metadata or {}
        return Entry(
            id=f"{self.name}/{name}",
            provider=self.name,
            hub=str(metadata.get("hub") or self.hub),
            title=str(metadata.get("title") or name),
            description=str(metadata.get("description") or ""),
            bbox=bbox_from(metadata),
            datetime=interval_from(metadata),
            variables=string_list(metadata.get("variables")),
            keywords=string_list(metadata.get("keywords")),
            kind="dataset",
            formats=string_list(metadata.get("formats")),
            source=name,
            _provider=self,
        )

    def search(self, query: Query) -> list[Entry]:
        return [e for e in (self._entry(n) for n in self.catalog.entries) if e.matches(query)]

    def get(self, local_id: str) -> Entry:
        if local_id not in self.catalog.entries:
            raise EntryNotFound(
                f"{self.name}/{local_id}",
                f"not in intake catalogue {self.name!r}; it has {sorted(self.catalog.entries)}",
            )
        return self._entry(local_id)

    def open(self, entry: Entry, request: CubeRequest) -> xr.Dataset:
        # A search needs none of the cube stack (dask, rasterio, odc-stac): it is imported on the first open.
        from gaia_lab.cube import apply_query

        reader = self.catalog[entry.source]
        try:
            data = reader.read(chunks=dict(request.chunks)) if request.chunks is not None else reader.read()
        except Exception as error:  # any reader, any library: name the entry and what failed
            raise AssetError(
                entry.id, f"the intake reader failed: {type(error).__name__}: {error}", entry_id=entry.id
            ) from None
        if not isinstance(data, xr.Dataset):
            raise AssetError(
                entry.id, f"the intake reader produces {type(data).__name__}, not an xarray Dataset", entry_id=entry.id
            )
        data = apply_query(data, request, entry_id=entry.id)
        data.attrs.update({"gaia:entry": entry.id, "gaia:provider": self.name, "gaia:assets": [self.url]})
        return data
