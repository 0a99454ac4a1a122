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
from gaia_lab.catalog.providers.esm_table import DatastoreTable, Row, read_for_search
from gaia_lab.errors import AssetError, EntryNotFound, InvalidQuery, ProviderError
from gaia_lab.query import BBox, CubeRequest, Interval, Query, parse_datetime

if TYPE_CHECKING:
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


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and value != value)  # NaN from a typed (Parquet) column


def _text(value: object) -> str:
    # pandas' spelling of a missing string value, as the entries built from intake-esm's DataFrame had it
    return "<NA>" if _missing(value) else str(value)


def _unique(rows: list[Row], column: str, *, dropna: bool = False) -> list[Any]:
    """The column's distinct values in order of appearance (``Series.unique()``), missing ones as one ``None``."""
    values = (None if _missing(row[column]) else row[column] for row in rows)
    return [v for v in dict.fromkeys(values) if not (dropna and v is None)]


def _time_range(rows: list[Row], columns: set[str]) -> Interval | None:
    try:
        if "start_time" in columns and "end_time" in columns:
            starts = [r["start_time"] for r in rows if not _missing(r["start_time"])]
            ends = [r["end_time"] for r in rows if not _missing(r["end_time"])]
            if not starts or not ends:
                return None
            return parse_datetime((str(min(starts)), str(max(ends))))
        if "time_range" in columns:  # CMIP file names: 185001-201412
            spans = [re.findall(r"\d{4,}", _text(r["time_range"])) for r in rows]
            starts = [s[0] for s in spans if len(s) == 2]
            ends = [s[1] for s in spans if len(s) == 2]
            if starts:

                def iso(stamp: str) -> str:
                    return "-".join(x for x in (stamp[:4], stamp[4:6], stamp[6:8]) if x)

                return parse_datetime(f"{iso(min(starts))}/{iso(max(ends))}")
    except InvalidQuery:
        return None
    return None


def _table_of(store: Any) -> DatastoreTable:
    control = store.esmcat.aggregation_control
    frame = store.df
    return DatastoreTable(
        description=store.esmcat.description or "",
        groupby_attrs=list(control.groupby_attrs or []) if control is not None else [],
        asset_column=store.esmcat.assets.column_name,
        columns=[str(c) for c in frame.columns],
        rows=frame.to_dict("records"),
    )


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
    def table(self) -> DatastoreTable:
        """The datastore's rows: read directly (a search imports none of intake-esm's stack), or from intake-esm's
        DataFrame for the tables only intake-esm reads."""
        try:
            table = read_for_search(self.url, self.config.storage_options)
        except FileNotFoundError:
            raise ProviderError(self.name, "datastore file not found", url=self.url) from None
        except Exception:  # intake-esm reads it again below and names what is wrong
            table = None
        return table if table is not None else _table_of(self.datastore)

    @cached_property
    def groups(self) -> dict[str, list[Row]]:
        """Rows by dataset key, keys sorted, rows in datastore order; a row missing a groupby attribute belongs to
        no dataset (as in intake-esm's ``groupby``)."""
        table = self.table
        attrs = table.groupby_attrs
        if not attrs:
            return {str(i): [row] for i, row in enumerate(table.rows)}
        grouped: dict[tuple[Any, ...], list[Row]] = {}
        for row in table.rows:
            key = tuple(row[a] for a in attrs)
            if not any(_missing(v) for v in key):
                grouped.setdefault(key, []).append(row)
        return {".".join(map(str, key)): grouped[key] for key in sorted(grouped)}

    def _entry(self, key: str) -> Entry:
        rows = self.groups[key]
        table = self.table
        columns = set(table.columns)
        variable_column = next((c for c in _VARIABLE_COLUMNS if c in columns), None)
        variables = sorted(map(_text, _unique(rows, variable_column))) if variable_column else []
        keywords = [str(v) for c in _KEYWORD_COLUMNS if c in columns for v in _unique(rows, c, dropna=True)]
        title = _text(rows[0]["title"]) if "title" in columns else f"{self.title}: {key}"
        return Entry(
            id=f"{self.name}/{key}",
            provider=self.name,
            hub=self.hub,
            title=title,
            description=table.description,
            bbox=BBox.from_stac(_text(rows[0]["bbox"])) if "bbox" in columns else None,
            datetime=_time_range(rows, columns),
            variables=variables,
            keywords=keywords,
            kind="dataset",
            formats=[_text(f) for f in _unique(rows, "format")] if "format" in columns else [],
            assets={f"{i}": _text(row[table.asset_column]) for i, row in enumerate(rows)},
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
        attrs = self.table.groupby_attrs
        subset = store.search(**{a: rows[0][a] for a in attrs}) if attrs else store
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
