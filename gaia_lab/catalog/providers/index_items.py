"""Items of a static collection searched in its stac-geoparquet index (an asset of role ``stac-items``).

A collection may list its items only in an index (the Planetary Computer's ``geoparquet-items``, or one written by
``gaia_lab.cube.stac_index.write_index``): a million items as a million item files cannot be searched, and need not
be. A search reads the index's footprint and time columns of every row as Arrow arrays, keeps the rows that can
match the query's bbox and datetime (a superset: rows without a footprint or a time are kept, as ``Entry.matches``
keeps them), then decodes the documents of those rows only, in the index's order, batch by batch, through
stac-geoparquet's reader. Each decoded item goes through the same entry, match and filter as an item file would,
so a search of an indexed collection finds what the same search of its item files finds, in the same order; it
stops at the query's limit without decoding further.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import stac_geoparquet.arrow

from gaia_lab.errors import ProviderError
from gaia_lab.query import Query
from gaia_lab.stac_item import StacItem

Accepted = TypeVar("Accepted")
_BATCH_ROWS = 8_192  # rows decoded at a time while looking for the candidates' documents
_NO_TIME = (np.iinfo(np.int64).min, np.iinfo(np.int64).max)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _times(table: pa.Table, name: str) -> tuple[np.ndarray, np.ndarray] | None:
    """A timestamp column as microseconds since the epoch, and where it has a value; None when absent."""
    if name not in table.column_names or not pa.types.is_timestamp(table[name].type):
        return None
    column = pc.cast(table[name], pa.timestamp("us", tz="UTC")).cast(pa.int64())
    valid = np.asarray(column.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    return np.asarray(pc.fill_null(column, 0).to_numpy(zero_copy_only=False), dtype=np.int64), valid


def _bound(table: pa.Table, own: str, fallback: int) -> np.ndarray:
    """An item's start (``own`` = start_datetime) or end (end_datetime) as ``StacItem.interval`` takes it: its
    own, else its datetime, else open (``fallback``)."""
    bound = np.full(table.num_rows, fallback, dtype=np.int64)
    for name in ("datetime", own):  # the item's own bound wins over its datetime
        found = _times(table, name)
        if found is not None:
            values, valid = found
            bound = np.where(valid, values, bound)
    return bound


def candidate_rows(parquet: pq.ParquetFile, query: Query) -> np.ndarray:
    """The rows of the index that may match the query's bbox and datetime, in the index's order."""
    names = set(parquet.schema_arrow.names)
    wanted = [name for name in ("bbox", "datetime", "start_datetime", "end_datetime") if name in names]
    n = parquet.metadata.num_rows
    keep = np.ones(n, dtype=bool)
    if not wanted or (query.bbox is None and query.datetime is None):
        return np.arange(n)
    table = parquet.read(columns=wanted)
    if query.bbox is not None and "bbox" in names:
        bbox = table["bbox"].combine_chunks()
        sides = [
            np.asarray(pc.fill_null(bbox.field(side), np.nan).to_numpy(zero_copy_only=False), dtype=np.float64)
            for side in ("xmin", "ymin", "xmax", "ymax")
        ]
        west, south, east, north = sides
        hit = np.zeros(n, dtype=bool)
        for part in query.bbox.parts():  # as BBox.intersects: edges touching count
            hit |= (west <= part.east) & (part.west <= east) & (south <= part.north) & (part.south <= north)
        # Unknown footprints, and items across the antimeridian (west > east), are decided on their documents.
        keep &= hit | np.isnan(west) | np.isnan(south) | np.isnan(east) | np.isnan(north) | (west > east)
    if query.datetime is not None:
        start, end = query.datetime
        if start is not None:
            keep &= _bound(table, "end_datetime", _NO_TIME[1]) >= _micros(start)
        if end is not None:
            keep &= _bound(table, "start_datetime", _NO_TIME[0]) <= _micros(end)
    return np.flatnonzero(keep)


def _documents(parquet: pq.ParquetFile, rows: np.ndarray) -> Iterator[dict[str, Any]]:
    """The documents of the index's sorted ``rows``, decoded batch by batch, none past the batch of the last row
    taken: a caller that stops early decodes no further."""
    if not len(rows):
        return
    start = 0
    for batch in parquet.iter_batches(batch_size=_BATCH_ROWS):
        stop = start + batch.num_rows
        lo, hi = np.searchsorted(rows, [start, stop])
        if hi > lo:
            chosen = pa.Table.from_batches([batch]).take(pa.array(rows[lo:hi] - start))
            yield from stac_geoparquet.arrow.stac_table_to_items(chosen)
        if hi >= len(rows):
            return
        start = stop


def search_index(
    href: str, query: Query, accept: Callable[[StacItem], Accepted | None], *, provider: str
) -> Iterator[Accepted]:
    """What ``accept`` makes of the items of the index at ``href`` that may match ``query`` (None: not taken), in
    the index's order, decoded as they are asked for."""
    try:
        parquet = pq.ParquetFile(href)
    except (OSError, pa.ArrowInvalid) as error:
        raise ProviderError(provider, f"cannot read the item index {href}: {error}") from None
    with parquet:
        for document in _documents(parquet, candidate_rows(parquet, query)):
            taken = accept(StacItem.from_dict(document, base_href=href))
            if taken is not None:
                yield taken


def find_item(href: str, item_id: str, *, provider: str) -> StacItem | None:
    """The item ``item_id`` of the index at ``href``, or None."""
    try:
        with pq.ParquetFile(href) as parquet:
            ids = parquet.read(columns=["id"])["id"]
            rows = np.flatnonzero(np.asarray(pc.equal(ids, item_id).to_numpy(zero_copy_only=False), dtype=bool))
            document = next(_documents(parquet, rows[:1]), None)
    except (OSError, pa.ArrowInvalid, KeyError) as error:
        raise ProviderError(provider, f"cannot read the item index {href}: {error}") from None
    return None if document is None else StacItem.from_dict(document, base_href=href)
