"""intake-esm datastores (the CMIP-style catalogues of climate modelling centres).

Each dataset key (the datastore's groupby attributes joined by '.') becomes an entry; opening aggregates its
assets into one lazy Dataset with intake-esm.
"""

from __future__ import annotations

import re
from functools import cached_property
from threading import Lock
from typing import TYPE_CHECKING, Any

from gaia_lab.catalog.entry import Entry
from gaia_lab.catalog.federation import ProviderConfig
from gaia_lab.catalog.providers.base import Provider
from gaia_lab.errors import AssetError, EntryNotFound, InvalidQuery, ProviderError
from gaia_lab.query import BBox, CubeRequest, Interval, Query, parse_datetime

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr

_VARIABLE_COLUMNS = ("variable_id", "variable", "short_name")
_KEYWORD_COLUMNS = (
    "standard_name",
    "long_name",
    "source_id",
    "experiment_id",
    "activity_id",
    "institution_id",
    "realm",
    "frequency",
    "table_id",
    "model",
    "scenario",
)


def _time_range(rows: pd.DataFrame) -> Interval | None:
    try:
        if "start_time" in rows and "end_time" in rows:
            return parse_datetime((str(rows["start_time"].min()), str(rows["end_time"].max())))
        if "time_range" in rows:  # CMIP file names: 185001-201412
            spans = [re.findall(r"\d{4,}", str(v)) for v in rows["time_range"]]
            starts = [s[0] for s in spans if len(s) == 2]
            ends = [s[1] for s in spans if len(s) == 2]
            if starts:

                def iso(stamp: str) -> str:
                    return "-".join(x for x in (stamp[:4], stamp[4:6], stamp[6:8]) if x)

                return parse_datetime(f"{iso(min(starts))}/{iso(max(ends))}")
    except InvalidQuery:
        return None
    return None


def _bbox(rows: pd.DataFrame) -> BBox | None:
    if "bbox" not in rows:
        return None
    return BBox.from_stac(str(rows["bbox"].iloc[0]))


class IntakeEsmProvider(Provider):
    """An intake-esm datastore (ESM collection JSON + CSV of assets)."""

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        self._lock = Lock()

    @cached_property
    def datastore(self) -> Any:
        from intake_esm.core import esm_datastore

        with self._lock:
            try:
                options = dict(self.config.storage_options) or None
                return esm_datastore(self.url, storage_options=options)  # type: ignore[arg-type]
            except FileNotFoundError:
                raise ProviderError(self.name, "datastore file not found", url=self.url) from None
            except Exception as error:  # pydantic validation, pandas parsing, fsspec errors
                raise ProviderError(
                    self.name, f"cannot load the intake-esm datastore: {type(error).__name__}: {error}", url=self.url
                ) from None

    @cached_property
    def groups(self) -> dict[str, pd.DataFrame]:
        store = self.datastore
        attrs = list(store.esmcat.aggregation_control.groupby_attrs or [])
        frame: pd.DataFrame = store.df
        if not attrs:
            return {str(i): frame.iloc[[i]] for i in range(len(frame))}
        return {
            ".".join(map(str, key if isinstance(key, tuple) else (key,))): rows
            for key, rows in frame.groupby(attrs, sort=True)
        }

    def _entry(self, key: str) -> Entry:
        rows = self.groups[key]
        variable_column = next((c for c in _VARIABLE_COLUMNS if c in rows), None)
        variables = sorted(map(str, rows[variable_column].unique())) if variable_column else []
        keywords = [str(v) for c in _KEYWORD_COLUMNS if c in rows for v in rows[c].dropna().unique()]
        description = self.datastore.esmcat.description or ""
        title = str(rows["title"].iloc[0]) if "title" in rows else f"{self.title}: {key}"
        return Entry(
            id=f"{self.name}/{key}",
            provider=self.name,
            hub=self.hub,
            title=title,
            description=description,
            bbox=_bbox(rows),
            datetime=_time_range(rows),
            variables=variables,
            keywords=keywords,
            kind="dataset",
            formats=[str(f) for f in rows["format"].unique()] if "format" in rows else [],
            assets={f"{i}": str(p) for i, p in enumerate(rows[self.datastore.esmcat.assets.column_name])},
            source=key,
            _provider=self,
        )

    def search(self, query: Query) -> list[Entry]:
        return [e for e in (self._entry(k) for k in self.groups) if e.matches(query)]

    def get(self, local_id: str) -> Entry:
        if local_id not in self.groups:
            raise EntryNotFound(
                f"{self.name}/{local_id}",
                f"no dataset key {local_id!r} in {self.name!r}; keys: {sorted(self.groups)[:20]}",
            )
        return self._entry(local_id)

    def open(self, entry: Entry, request: CubeRequest) -> xr.Dataset:
        # A search needs none of the cube stack (dask, rasterio, odc-stac): it is imported on the first open.
        from gaia_lab.cube import apply_query

        store = self.datastore
        rows = self.groups[entry.source]
        attrs = list(store.esmcat.aggregation_control.groupby_attrs or [])
        subset = store.search(**{a: rows[a].iloc[0] for a in attrs}) if attrs else store
        open_kwargs: dict[str, Any] = {"chunks": dict(request.chunks) if request.chunks is not None else {}}
        try:
            datasets = subset.to_dataset_dict(xarray_open_kwargs=open_kwargs, progressbar=False)
        except Exception as error:  # intake-esm wraps every asset error in its own ESMDataSourceError
            raise AssetError(entry.id, f"intake-esm cannot open the dataset: {error}", entry_id=entry.id) from None
        if len(datasets) != 1:
            raise AssetError(entry.id, f"expected one aggregated dataset, got {len(datasets)}", entry_id=entry.id)
        ds = next(iter(datasets.values()))
        ds = apply_query(ds, request, entry_id=entry.id)
        ds.attrs.update(
            {"gaia:entry": entry.id, "gaia:provider": self.name, "gaia:assets": list(entry.assets.values())}
        )
        return ds
