"""Items indexed in stac-geoparquet -> a lazy cube, at a cost that does not grow with Python objects per item.

A collection of a million items read as STAC JSON costs a parse, a record and (in odc-stac) a ``pystac.Item`` and a
``ParsedItem`` per item before any cube exists. A stac-geoparquet index (one row per item, properties as columns,
assets as a struct column) holds the same metadata as columns, so this module opens the cube from arrays:

- only the columns the cube needs are read (``datetime``, ``id``, ``bbox``, the CRS, and per requested asset its
  href, ``proj:shape``, ``proj:transform``, media type), as Arrow arrays: no per-item Python object is built;
- items are grouped by grid with one vectorised pass (``np.unique`` over the grid columns), and one template row per
  grid is parsed by odc-stac (``parse_items``), as ``gaia_lab.cube.stac_load`` does for item files; the output grid
  comes from the templates weighted by their item counts (``stac_load.output_geobox_of_grids``);
- the time axis is the distinct nominal datetimes, in odc-stac's order (time, then id within a time step);
- each band is a dask array whose graph is one lazy layer over its chunks (``da.from_array`` of an indexer, no
  per-item or per-chunk task built at open). A chunk, when computed, selects its items from the arrays (time range,
  grids whose footprint touches the tile) and reads them with odc-loader's reader and fuser, the calls
  ``odc.stac.load`` makes for the same tile: the values are those of ``odc.stac.load(items, groupby="time")``
  with the same chunks (tests compare them).

The index is the stac-geoparquet layout written by the ``stac-geoparquet`` package (``write_index``); a collection
points to its index with an asset of role ``stac-items`` (as the Planetary Computer's ``geoparquet-items``), read
when it is a local file (``stac_item.index_asset``).
Assumed, as a stac-geoparquet writer makes them: within one grid (CRS, shape, transform, media type), an asset's
raster metadata (data type, nodata, bands) are those of the grid's first item.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pystac
import xarray as xr
from dask.base import tokenize
from odc.geo.geobox import GeoBox, GeoboxTiles
from odc.loader import _builder as odc_builder
from odc.loader import resolve_chunk_shape, resolve_load_cfg
from odc.loader.types import RasterLoadParams, RasterSource
from odc.stac import _stac_load
from odc.stac._mdtools import parse_items

from gaia_lab.bulk import paused_gc
from gaia_lab.cube import cog, stac_load
from gaia_lab.cube.reads import COPY_FUSER
from gaia_lab.errors import AssetError, EmptyResult, InvalidQuery
from gaia_lab.query import CubeRequest
from gaia_lab.stac_item import INDEX_ROLE, StacItem, absolute_href, index_asset


def is_index(path: str) -> bool:
    """Whether a Parquet file is a stac-geoparquet item index (its schema metadata says so, or it has the item
    columns) rather than a GeoParquet table of features."""
    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowInvalid):
        return False
    metadata = schema.metadata or {}
    if b"stac-geoparquet" in metadata:
        return True
    return {"stac_version", "assets", "id"}.issubset(schema.names)


def write_index(items: Iterable[pystac.Item | Mapping[str, Any]], path: str | Path) -> Path:
    """Write ``items`` as a stac-geoparquet index (``stac_geoparquet.arrow``) with absolute asset hrefs."""
    from stac_geoparquet.arrow import parse_stac_items_to_arrow, to_parquet

    documents = []
    for item in items:
        if isinstance(item, pystac.Item):
            document = item.to_dict(include_self_link=False, transform_hrefs=False)
            for key, asset in item.assets.items():
                document["assets"][key]["href"] = asset.get_absolute_href() or asset.href
            documents.append(document)
        else:
            documents.append(dict(item))
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    to_parquet(parse_stac_items_to_arrow(documents), target)
    return target


@dataclass(frozen=True)
class _Columns:
    """What opening needs of every item, as arrays (entry ``i`` is item ``i`` after filtering)."""

    times: np.ndarray  # int64 microseconds since the epoch, UTC
    bbox: np.ndarray  # (n, 4) west, south, east, north
    present: dict[str, np.ndarray | None]  # asset key -> whether each item has it (None: every item has it)
    grid: np.ndarray  # grid number of each item
    rows: np.ndarray  # row of each item in the index file


@dataclass(frozen=True)
class _Text:
    """What reading needs besides: hrefs, and the items' order within a time step (by id, as odc-stac orders
    them). Read from the index at the first chunk computed, not at open: strings are most of an index's bytes."""

    hrefs: dict[str, pa.Array | None]  # filled asset by asset (IndexedCube.hrefs)
    ids: pa.Array
    by_time: np.ndarray  # items by time (stable); within a step they are put in id order when read


def _schema_fields(schema: pa.Schema) -> tuple[set[str], dict[str, set[str]]]:
    top = set(schema.names)
    assets: dict[str, set[str]] = {}
    if "assets" in top:
        struct = schema.field("assets").type
        for field in struct:
            assets[field.name] = {sub.name for sub in field.type} if pa.types.is_struct(field.type) else set()
    return top, assets


def _as_float_matrix(column: pa.ChunkedArray | pa.Array, width: int) -> np.ndarray:
    """A list column of numbers as an (n, width) float matrix, NaN where the list is null or shorter."""
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    n = len(array)
    out = np.full((n, width), np.nan)
    if n == 0 or array.null_count == n:
        return out
    lengths = pc.fill_null(pc.list_value_length(array), 0).to_numpy(zero_copy_only=False)
    values = pc.list_flatten(array).cast(pa.float64()).to_numpy(zero_copy_only=False)
    if np.all((lengths == 0) | (lengths >= width)) and np.all(lengths[lengths > 0] == lengths[lengths > 0][0]):
        full = lengths > 0
        step = int(lengths[full][0]) if full.any() else width
        out[full] = values.reshape(-1, step)[:, :width]
        return out
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    for row in np.flatnonzero(lengths):
        take = min(width, int(lengths[row]))
        out[row, :take] = values[offsets[row] : offsets[row] + take]
    return out


def _codes(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Integer codes of a string or binary column (equal values, equal codes; null is -1), from Arrow's hashing."""
    encoded = pc.dictionary_encode(column)
    chunks = encoded.chunks if isinstance(encoded, pa.ChunkedArray) else [encoded]
    parts = []
    offset = 0
    dictionaries: dict[Any, int] = {}
    for chunk in chunks:
        # Each chunk has a dictionary of its own: map its codes onto one numbering.
        remap = np.array([dictionaries.setdefault(v, len(dictionaries)) for v in chunk.dictionary.to_pylist()] or [0])
        indices = chunk.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        parts.append(np.where(indices >= 0, remap[np.maximum(indices, 0)], -1))
        offset += len(chunk)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


_MIX = np.uint64(0x9E3779B97F4A7C15)
_HEAD_BATCH_ROWS = (256, 65_536)  # rows decoded at a time to reach the templates: fewest, most


def _group_rows(columns: Sequence[np.ndarray], n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first row of each distinct row of the table ``columns`` and each row's group, groups numbered in the
    order of their first row.

    Columns equal in every row are left out; rows are hashed to 64 bits (the float bits of the other columns, mixed
    column by column) and the hashes factorized (pandas' hash table): sorting a million rows of 30 floats takes
    seconds, this a fraction of one. Every row is then compared with its group's first row, so a hash collision
    cannot merge two grids; on one, rows are sorted instead."""
    varying = []
    for column in columns:
        bits = np.ascontiguousarray(column, dtype=np.float64).view(np.uint64)
        if n and not np.all(bits == bits[0]):
            varying.append(bits)
    if not varying:
        return np.zeros(1 if n else 0, dtype=np.int64), np.zeros(n, dtype=np.int64)
    hashes = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for bits in varying:
            hashes = hashes * _MIX + bits
    codes, uniques = pd.factorize(hashes)
    codes = np.asarray(codes, dtype=np.int64)
    first = np.empty(len(uniques), dtype=np.int64)
    first[codes[::-1]] = np.arange(n - 1, -1, -1)
    leaders = first[codes]
    if all(np.array_equal(bits, bits[leaders]) for bits in varying):
        return first, codes
    matrix = np.ascontiguousarray(np.column_stack(varying))
    rows = matrix.view(np.dtype((np.void, matrix.dtype.itemsize * matrix.shape[1]))).ravel()
    _, first_sorted, inverse = np.unique(rows, return_index=True, return_inverse=True)
    order = np.argsort(first_sorted, kind="stable")
    renumber = np.empty_like(order)
    renumber[order] = np.arange(len(order))
    return first_sorted[order], np.asarray(renumber[inverse.ravel()], dtype=np.int64)


class IndexedCube:
    """A stac-geoparquet index, the request applied: the columns, one template per grid, the cube's grid."""

    def __init__(self, href: str, request: CubeRequest, *, entry_id: str, resampling: str = "nearest") -> None:
        self.href = href
        self.entry_id = entry_id
        try:
            self.dataset = pads.dataset(href, format="parquet")
            with pq.ParquetFile(href) as parquet:
                self._footer: pq.FileMetaData | None = parquet.metadata  # read once for the open, not pickled
        except (OSError, pa.ArrowInvalid) as error:
            raise AssetError(href, f"cannot read the item index: {error}", entry_id=entry_id) from None
        top, asset_fields = _schema_fields(self.dataset.schema)
        if "assets" not in top or not ({"datetime", "start_datetime"} & top):
            raise AssetError(
                href,
                "not a stac-geoparquet item index (no 'assets' or 'datetime' column); write one with "
                "gaia_lab.cube.stac_index.write_index",
                entry_id=entry_id,
            )
        self.top, self.asset_fields = top, asset_fields
        self._head: pa.Table | None = None
        first = self._documents(np.array([0]))
        if not first:
            raise EmptyResult(entry_id, "items", "the item index has no rows")
        self.first = StacItem.from_dict(first[0], base_href=href)
        self.bands = self._select_bands(request)
        self.keys = list(dict.fromkeys(band.key for band in self.bands))
        self.columns = self._read(request)
        self._build(request, resampling)
        self._head = self._footer = None

    # -- reading -------------------------------------------------------------------------------------------------

    def _field(self, key: str | None, name: str) -> Any:
        """The expression for an item property (``key`` None) or an asset field, or None when absent."""
        if key is None:
            return pc.field(name) if name in self.top else None
        return pc.field("assets", key, name) if name in self.asset_fields.get(key, ()) else None

    def _documents(self, rows: np.ndarray) -> list[dict[str, Any]]:
        """Whole item documents of a few rows (templates), through stac-geoparquet's reader of its own layout.

        The file is decoded from its start up to the last row wanted, and what was decoded is kept for the next
        call of the open (the first row, then the templates): a grid's first item is usually among the first rows
        (the first date of a tiled archive), and a row group may hold a million rows."""
        from stac_geoparquet.arrow import stac_table_to_items

        wanted = np.asarray(rows, dtype=np.int64)
        last = int(wanted.max()) if len(wanted) else -1
        if self._head is None or self._head.num_rows <= last:
            fewest, most = _HEAD_BATCH_ROWS
            batches = []
            seen = 0
            with pq.ParquetFile(self.href, metadata=self._footer) as parquet:
                for batch in parquet.iter_batches(batch_size=min(max(fewest, last + 1), most)):
                    batches.append(batch)
                    seen += batch.num_rows
                    if seen > last:
                        break
                schema = parquet.schema_arrow
            self._head = pa.Table.from_batches(batches, schema=schema)
        return list(stac_table_to_items(self._head.take(pa.array(wanted))))

    def _select_bands(self, request: CubeRequest) -> list[cog.Band]:
        carriers = [self.first]
        missing = [key for key in self.asset_fields if key not in self.first.assets]
        if missing and request.variables:
            wanted = {name.rpartition(".")[0] or name for name in request.variables} | set(request.variables)
            for key in missing:
                if key in wanted:
                    valid = pc.is_valid(self.dataset.to_table(columns={"h": pc.field("assets", key, "href")})["h"])
                    row = pc.index(valid, True).as_py()
                    if row is not None and row >= 0:
                        carriers.append(StacItem.from_dict(self._documents(np.array([row]))[0], base_href=self.href))
        return cog.select_bands(carriers, request.variables, self.entry_id)

    def _read(self, request: CubeRequest) -> _Columns:
        projection: dict[str, Any] = {}
        for name in ("datetime", "start_datetime", "end_datetime"):
            if name in self.top:
                projection[name] = pc.field(name)
        for side in ("xmin", "ymin", "xmax", "ymax"):
            projection[side] = pc.field("bbox", side)
        for name in ("proj:code", "proj:epsg", "proj:shape", "proj:transform"):
            if name in self.top:
                projection[name] = pc.field(name)
        self.placed_by_footprint = self._footprints_known()
        for key in self.keys:
            for name in ("type", "proj:code", "proj:epsg", "proj:shape", "proj:transform"):
                if name == "type" and self._constant(f"assets.{key}.type"):
                    continue  # one media type in every row (the Parquet statistics say so): nothing to group by
                if name in ("proj:shape", "proj:transform") and self.placed_by_footprint:
                    continue  # items placed by their footprints: their grids decide nothing (see _footprints_known)
                expression = self._field(key, name)
                if expression is not None:
                    projection[f"{key}\0{name}"] = expression
        table = self.dataset.to_table(columns=projection)
        times = self._nominal_times(table)
        bbox = np.column_stack(
            [table[side].to_numpy(zero_copy_only=False).astype(np.float64) for side in ("xmin", "ymin", "xmax", "ymax")]
        )
        keep = np.ones(len(table), dtype=bool)
        if request.bbox is not None:
            # An item without a footprint may lie anywhere: kept, as filter_items keeps it.
            unknown = np.isnan(bbox).any(axis=1)
            hit = np.zeros(len(table), dtype=bool)
            for part in request.bbox.parts():  # as BBox.intersects: edges touching count
                hit |= (
                    (bbox[:, 0] <= part.east)
                    & (part.west <= bbox[:, 2])
                    & (bbox[:, 1] <= part.north)
                    & (part.south <= bbox[:, 3])
                )
            keep &= hit | unknown
            if not keep.any():
                raise EmptyResult(
                    self.entry_id, "bbox", f"{tuple(request.bbox)} does not intersect any of its {len(table)} items"
                )
        if request.datetime is not None:
            start, end = request.datetime
            first_us = self._micros(table, "start_datetime", times)
            last_us = self._micros(table, "end_datetime", times)
            inside = np.ones(len(table), dtype=bool)
            if start is not None:
                inside &= last_us >= int(start.timestamp() * 1e6)
            if end is not None:
                inside &= first_us <= int(end.timestamp() * 1e6)
            before = int(keep.sum())
            keep &= inside
            if not keep.any():
                raise EmptyResult(self.entry_id, "datetime", f"matches none of the {before} items in the bbox")
        rows = np.arange(len(table))
        if not keep.all():
            rows = np.flatnonzero(keep)
            table = table.filter(pa.array(keep))
            times, bbox = times[keep], bbox[keep]
        present = {key: self._present(key, rows) for key in self.keys}
        grid = self._grids(table, bbox, present)
        return _Columns(times, bbox, present, grid, rows)

    def _leaf_statistics(self) -> dict[str, tuple[int | None, Any, Any]]:
        """Per leaf column of the file: its null count and its min and max over all row groups (None when a row
        group has no statistics for it)."""
        found: dict[str, tuple[int | None, Any, Any]] = {}
        metadata = self._footer
        if metadata is None:
            with pq.ParquetFile(self.href) as parquet:
                metadata = parquet.metadata
        for group in range(metadata.num_row_groups):
            row_group = metadata.row_group(group)
            for index in range(row_group.num_columns):
                chunk = row_group.column(index)
                path = chunk.path_in_schema
                stats = chunk.statistics
                previous = found.get(path, (0, None, None))
                if stats is None or not stats.has_null_count or previous[0] is None:
                    found[path] = (None, None, None)
                    continue
                low, high = (stats.min, stats.max) if stats.has_min_max else (None, None)
                if group and (previous[1] != low or previous[2] != high):
                    low = high = None
                found[path] = (previous[0] + stats.null_count, low, high)
        return found

    def _statistics(self, path: str) -> tuple[int | None, Any, Any]:
        if not hasattr(self, "_stats"):
            self._stats = self._leaf_statistics()
        return self._stats.get(path, (None, None, None))

    def _constant(self, path: str) -> bool:
        nulls, low, high = self._statistics(path)
        return nulls == 0 and low is not None and low == high

    def _footprints_known(self) -> bool:
        """Whether the statistics alone show that odc-stac places these items by their footprints: an asset
        present in some row without a ``proj:transform`` (more null transforms than null hrefs) and no item-level
        transform to fall back on. Then the per-item grids (a million lists of numbers) need not be read."""
        if "proj:transform" in self.top:
            return False
        for key in self.keys:
            transforms, _, _ = self._statistics(f"assets.{key}.proj:transform.list.element")
            hrefs, _, _ = self._statistics(f"assets.{key}.href")
            if "proj:transform" not in self.asset_fields.get(key, ()):
                return True
            if transforms is not None and hrefs is not None and transforms > hrefs:
                return True
        return False

    def _present(self, key: str, rows: np.ndarray) -> np.ndarray | None:
        """Which items have asset ``key``: from the Parquet statistics when no row lacks it (no string read)."""
        if "href" not in self.asset_fields.get(key, ()):
            return np.zeros(len(rows), dtype=bool)
        nulls, _, _ = self._statistics(f"assets.{key}.href")
        if nulls == 0:
            return None
        hrefs = self.dataset.to_table(columns={"h": pc.field("assets", key, "href")})["h"]
        valid = pc.is_valid(hrefs).to_numpy(zero_copy_only=False)
        return np.asarray(valid[rows], dtype=bool)

    @staticmethod
    def _micros(table: pa.Table, name: str, fallback: np.ndarray) -> np.ndarray:
        if name not in table.column_names:
            return fallback
        values = table[name].cast(pa.timestamp("us", tz="UTC")).cast(pa.int64())
        out = values.to_numpy(zero_copy_only=False)
        nulls = pc.is_null(values).to_numpy(zero_copy_only=False)
        return np.where(nulls, fallback, np.nan_to_num(out, nan=0).astype(np.int64))

    def _nominal_times(self, table: pa.Table) -> np.ndarray:
        """odc-stac's nominal datetime: ``datetime``, else ``start_datetime``, else ``end_datetime``."""
        nominal: pa.ChunkedArray | None = None
        for name in ("datetime", "start_datetime", "end_datetime"):
            if name in table.column_names:
                column = table[name].cast(pa.timestamp("us", tz="UTC"))
                nominal = column if nominal is None else pc.coalesce(nominal, column)
        assert nominal is not None
        if nominal.null_count:
            row = pc.index(pc.is_null(nominal), True).as_py()
            raise AssetError(
                self.href,
                f"the item in row {row} has no datetime, start_datetime or end_datetime",
                entry_id=self.entry_id,
            )
        return np.asarray(nominal.cast(pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)

    def _crs_codes(self, table: pa.Table, key: str) -> np.ndarray:
        """Integer codes of each item's CRS for an asset (asset fields over item fields, code over EPSG)."""
        column: pa.ChunkedArray | None = None
        for name in (f"{key}\0proj:code", "proj:code"):
            if name in table.column_names:
                column = table[name] if column is None else pc.coalesce(column, table[name])
        for name in (f"{key}\0proj:epsg", "proj:epsg"):
            if name in table.column_names:
                epsg = pc.binary_join_element_wise("EPSG:", table[name].cast(pa.string()), "")
                column = epsg if column is None else pc.coalesce(column, epsg)
        if column is None:
            return np.full(len(table), -1, dtype=np.int64)
        return _codes(column)

    def _grids(self, table: pa.Table, bbox: np.ndarray, presence: Mapping[str, np.ndarray | None]) -> np.ndarray:
        """Each item's grid number: items with equal CRS, shape, transform and media type for every band share one.
        Items placed by their footprint (a band without a full grid, or missing) also share the footprint."""
        parts: list[np.ndarray] = []
        by_footprint = np.zeros(len(table), dtype=bool)
        lacking = np.zeros(len(table), dtype=bool)
        for key in self.keys:
            crs = self._crs_codes(table, key)
            shape = transform = np.zeros((len(table), 0))  # not read: items placed by their footprints
            if not self.placed_by_footprint:
                shape = _as_float_matrix(self._column_or_item(table, key, "proj:shape"), 2)
                transform = _as_float_matrix(self._column_or_item(table, key, "proj:transform"), 6)
            flags = presence[key]
            present = np.ones(len(table), dtype=bool) if flags is None else flags
            media = (
                _codes(table[f"{key}\0type"])
                if f"{key}\0type" in table.column_names
                else np.zeros(len(table), np.int64)
            )
            # An asset present without a full grid places every item by its footprint (stac_load.placed_by_footprint);
            # an item without the asset is placed by its own footprint.
            if not self.placed_by_footprint:
                gridded = (crs >= 0) & ~np.isnan(shape).any(axis=1) & ~np.isnan(transform).any(axis=1)
                by_footprint |= present & ~gridded
            lacking |= ~present
            parts += [present, crs, media]
            if not self.placed_by_footprint:
                parts += [*shape.T, *transform.T]
        self.by_footprint = self.placed_by_footprint or bool(by_footprint.any())
        if self.by_footprint or lacking.any():
            parts += list(bbox.T)
        first, inverse = _group_rows([np.asarray(p, dtype=np.float64) for p in parts], len(table))
        self.first_rows = first
        return inverse

    def _column_or_item(self, table: pa.Table, key: str, name: str) -> pa.ChunkedArray:
        columns = [table[c] for c in (f"{key}\0{name}", name) if c in table.column_names]
        if not columns:
            return pa.chunked_array([pa.nulls(len(table), pa.list_(pa.float64()))])
        if len(columns) == 1:
            return columns[0]
        asset, item = columns
        return pc.if_else(pc.is_valid(asset), asset, item.cast(asset.type))

    # -- the cube ------------------------------------------------------------------------------------------------

    def _build(self, request: CubeRequest, resampling: str) -> None:
        columns = self.columns
        n_grids = len(self.first_rows)
        rows = self.columns.rows[self.first_rows]  # rows in the index file of each grid's first item
        documents = self._documents(rows)
        records = [StacItem.from_dict(d, base_href=self.href) for d in documents]
        templates_pystac = [
            record.to_pystac(grids=not self.by_footprint, assets=self.keys)  # as stac_load parses its templates
            for record in records
        ]
        rdr = cog.tile_driver(request)
        self.driver = rdr
        templates = list(parse_items(templates_pystac, md_plugin=None))
        if any(src.driver_data is not None for t in templates for src in t.bands.values()):
            raise AssetError(self.href, "reader driver data per item is not supported", entry_id=self.entry_id)
        self.templates = templates
        collection = templates[-1].collection
        names = [band.name for band in self.bands]
        bands_to_load = collection.resolve_bands(names)
        self.band_names = list(bands_to_load)
        first_assets = {key: next(r.assets[key] for r in records if key in r.assets) for key in self.keys}
        self.first_assets = first_assets
        needs_float = False
        sizes = []
        for asset in first_assets.values():
            nodata, data_type = cog._nodata_and_type(asset)
            if nodata is not None and not str(data_type or "").startswith("float"):
                needs_float = True
            try:
                sizes.append(np.dtype(data_type or "float32").itemsize)
            except TypeError:
                sizes.append(4)
        self.dtype = "float32" if needs_float else None
        self.load_cfg = resolve_load_cfg(bands_to_load, resampling, dtype=self.dtype, fail_on_error=True)
        self.copy_cfg = resolve_load_cfg(
            bands_to_load, resampling, dtype=self.dtype, fail_on_error=True, fuse_func=COPY_FUSER
        )
        counts = np.bincount(columns.grid, minlength=n_grids)
        # odc-stac considers the items in order, starting with the first that has every band.
        present = np.ones(len(columns.grid), dtype=bool)
        for key in self.keys:
            flags = columns.present[key]
            if flags is not None:
                present &= flags
        complete = int(np.argmax(present)) if present.any() else 0
        first_grid = int(columns.grid[complete])
        order = [first_grid, *[g for g in range(n_grids) if g != first_grid]]
        area = self._area(request)
        gbox = stac_load.output_geobox_of_grids(
            [templates[g] for g in order],
            [int(counts[g]) for g in order],
            self.band_names,
            crs=request.crs,
            resolution=request.resolution,
            **area,
        )
        if not isinstance(gbox, GeoBox):
            raise InvalidQuery(
                "crs",
                request.crs,
                f"the items of {self.entry_id} do not give the output grid (no proj:transform): pass crs= and "
                "resolution=",
            )
        if 0 in gbox.shape:
            raise EmptyResult(self.entry_id, "bbox", f"{request.bbox} covers no pixel of the items' grids")
        self.gbox = gbox
        # Time steps: the distinct nominal datetimes (odc-stac's _group_items for "time"); the order of the items
        # within a step (by id) is only needed to read, and comes with the hrefs (_Text).
        steps, counts_per_step = np.unique(columns.times, return_counts=True)
        self.step_starts = np.concatenate([[0], np.cumsum(counts_per_step)])
        self.timestamps = steps.astype("datetime64[us]")
        self._text: _Text | None = None
        self._text_lock = threading.Lock()
        meta = collection.meta_for(self.band_names)
        self.meta = meta
        if request.chunks is not None:
            chunks = dict(request.chunks)
        else:
            shape = next((tuple(r.proj(a).get("proj:shape") or ()) for r in records for a in r.assets.values()), ())
            rows_, cols_ = shape if len(shape) == 2 else (cog.SPATIAL_CHUNK, cog.SPATIAL_CHUNK)
            pixels = min(rows_, cog.SPATIAL_CHUNK) * min(cols_, cog.SPATIAL_CHUNK)
            size = 4 if needs_float else max(sizes, default=4)
            steps_per_chunk = max(1, min(cog.TIME_CHUNK_MAX, cog.CHUNK_BYTES // max(1, pixels * size)))
            chunks = {"time": steps_per_chunk, "y": cog.SPATIAL_CHUNK, "x": cog.SPATIAL_CHUNK}
        chunk_shape = resolve_chunk_shape(
            len(self.timestamps), gbox, chunks, cfg=self.load_cfg, extra_dims=meta.extra_dims_full()
        )
        self.chunk_shape = chunk_shape
        self.tiles = GeoboxTiles(gbox, (chunk_shape[1], chunk_shape[2]))

    def _area(self, request: CubeRequest) -> dict[str, Any]:
        if request.bbox is None:
            return {"bbox": None, "geopolygon": None}
        # The parts of the box the items cover, as cog.query_area computes them from the footprints.
        parts = request.bbox.parts()
        boxes = self.columns.bbox
        if not np.isnan(boxes).any():
            covered = []
            for part in parts:
                hit = (
                    (boxes[:, 0] < part.east)
                    & (part.west < boxes[:, 2])
                    & (boxes[:, 1] < part.north)
                    & (part.south < boxes[:, 3])
                )
                if hit.any():
                    b = boxes[hit]
                    covered.append(
                        (
                            max(part.west, float(b[:, 0].min())),
                            max(part.south, float(b[:, 1].min())),
                            min(part.east, float(b[:, 2].max())),
                            min(part.north, float(b[:, 3].max())),
                        )
                    )
            if covered:
                parts = [type(request.bbox)(*c) for c in covered]
        if len(parts) == 1:
            return {"bbox": tuple(parts[0]), "geopolygon": None}
        raise InvalidQuery(
            "bbox", tuple(request.bbox), "a box crossing the antimeridian is not supported on an item index yet"
        )

    def text(self) -> _Text:
        """Hrefs and id order of the items, read once per process at the first chunk computed."""
        with self._text_lock:
            if self._text is None:
                # Sorting a million ids as strings takes seconds: items are sorted by time here, and the few of
                # one time step by id when that step is read (step_items).
                by_time = np.argsort(self.columns.times, kind="stable")
                self._text = _Text({}, self._strings(pc.field("id")), by_time)
            return self._text

    def hrefs(self, key: str) -> pa.Array | None:
        """The hrefs of asset ``key``, read at the first chunk of a band from that asset (one string column: a band
        read alone does not pay for the others)."""
        text = self.text()
        with self._text_lock:
            if key not in text.hrefs:
                fields = self.asset_fields.get(key, ())
                text.hrefs[key] = self._strings(pc.field("assets", key, "href")) if "href" in fields else None
            return text.hrefs[key]

    def _strings(self, field: Any) -> pa.Array:
        column = self.dataset.to_table(columns={"s": field})["s"]
        if len(self.columns.rows) != len(column):
            column = column.take(pa.array(self.columns.rows))
        return column.combine_chunks()

    def step_items(self, step: int) -> np.ndarray:
        """The items of time step ``step`` in odc-stac's order (by id)."""
        text = self.text()
        items = text.by_time[self.step_starts[step] : self.step_starts[step + 1]]
        if len(items) < 2:
            return items
        ids = text.ids.take(pa.array(items)).to_pylist()
        return items[sorted(range(len(items)), key=ids.__getitem__)]

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_text_lock", None)
        state["_text"] = None  # each process reads it again rather than receive a million strings
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._text_lock = threading.Lock()

    def dataset_of(self) -> xr.Dataset:
        local = self.href.removeprefix("file://")
        token = tokenize(self.href, Path(local).stat().st_mtime_ns if "://" not in local else None)
        token = tokenize(token, self.band_names, self.gbox, self.chunk_shape, len(self.columns.times))
        env = self.driver.capture_env()

        def alloc(shape: tuple[int, ...], dtype: Any, /, name: Any, ydim: int) -> Any:
            band = _IndexedBand(self, str(name), np.dtype(dtype), env)
            chunks = da.core.normalize_chunks(self.chunk_shape, shape)
            return da.from_array(
                band, chunks=chunks, name=f"index-{name}-{token}", asarray=False, meta=np.empty((0, 0, 0), dtype)
            )

        raster_cfg = {k: v for k, v in self.load_cfg.items() if isinstance(v, RasterLoadParams)}
        timestamps = [t.item() for t in self.timestamps]
        return odc_builder.mk_dataset(self.gbox, timestamps, raster_cfg, alloc=alloc, template=self.meta)


class _IndexedBand:
    """One band of the cube as an array odc-loader fills chunk by chunk, from the index's arrays."""

    def __init__(self, cube: IndexedCube, band: str, dtype: np.dtype, env: dict[str, Any]) -> None:
        self.cube = cube
        self.band = band
        self.dtype = dtype
        self.env = env
        self.shape = (len(cube.timestamps), *cube.gbox.shape.yx)
        self.ndim = 3
        self.key = next(b.key for b in cube.bands if b.name == band)
        self._tiles_of_grid: dict[int, set[tuple[int, int]]] = {}
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_lock")
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def _grid_tiles(self, grid: int) -> set[tuple[int, int]]:
        tiles = self._tiles_of_grid.get(grid)
        if tiles is None:
            tiles = set(_stac_load._tiles(self.cube.templates[grid], self.cube.tiles))
            with self._lock:
                self._tiles_of_grid[grid] = tiles
        return tiles

    def _source(self, item: int) -> RasterSource | None:
        cube = self.cube
        hrefs = cube.hrefs(self.key)
        if hrefs is None or not hrefs[item].is_valid:
            return None
        template = cube.templates[int(cube.columns.grid[item])]
        source = template.resolve_bands([self.band]).get(self.band)
        if source is None:
            return None
        href = absolute_href(str(hrefs[item].as_py()), cube.href)
        copied: RasterSource = stac_load._copy_with(source, uri=href)
        return copied

    def __getitem__(self, key: Any) -> np.ndarray:
        """A chunk, or what dask asks once it has fused a selection into the chunk's read (``isel(time=0)`` makes
        the key an integer, a strided ``isel`` a slice with a step): any key within one tile of the cube."""
        key = key if isinstance(key, tuple) else (key,)
        if Ellipsis in key:
            at = key.index(Ellipsis)
            key = key[:at] + (slice(None),) * (self.ndim - len(key) + 1) + key[at + 1 :]
        key = key + (slice(None),) * (self.ndim - len(key))
        wanted = [_indices(k, n) for k, n in zip(key, self.shape, strict=True)]
        cy, cx = self.cube.chunk_shape[1], self.cube.chunk_shape[2]
        rows, columns = wanted[1], wanted[2]
        tile = (int(rows.min()) // cy, int(columns.min()) // cx) if rows.size and columns.size else (0, 0)
        if rows.size and columns.size and (int(rows.max()) // cy, int(columns.max()) // cx) != tile:
            raise ValueError(f"{key} spans more than one of the cube's tiles {self.cube.chunk_shape}")
        times = wanted[0]
        first, last = (int(times.min()), int(times.max()) + 1) if times.size else (0, 0)
        block = self._read(first, last, tile)
        origin = (first, tile[0] * cy, tile[1] * cx)
        if all(isinstance(k, slice) for k in key) and all(
            w.size == n and (n == 0 or (w[0] == o and bool(np.all(np.diff(w) == 1))))
            for w, n, o in zip(wanted, block.shape, origin, strict=True)
        ):
            return block
        out = block
        for axis in reversed(range(self.ndim)):
            index: Any = wanted[axis] - origin[axis]
            out = np.take(out, int(index[0]) if isinstance(key[axis], int | np.integer) else index, axis=axis)
        return out

    def _read(self, first: int, last: int, tile: tuple[int, int]) -> np.ndarray:
        """Time steps ``first`` to ``last`` of one tile."""
        cube = self.cube
        dst_gbox = cube.tiles[tile]
        assert isinstance(dst_gbox, GeoBox)
        height, width = dst_gbox.shape.yx
        layers: list[list[RasterSource]] = []
        for step in range(first, last):
            items = cube.step_items(step)
            sources = []
            for item in items:
                if tile in self._grid_tiles(int(cube.columns.grid[item])):
                    source = self._source(int(item))
                    if source is not None:
                        sources.append(source)
            layers.append(sources)
        single = all(len(layer) <= 1 for layer in layers)
        cfg = (cube.copy_cfg if single else cube.load_cfg)[self.band]
        assert isinstance(cfg, RasterLoadParams)
        out = np.empty((len(layers), height, width), dtype=self.dtype)
        rdr = cube.driver
        load_state = rdr.new_load(cube.gbox)
        with rdr.restore_env(self.env, load_state) as ctx:
            for index, sources in enumerate(layers):
                readers = [rdr.open(source, ctx) for source in sources]
                # through the module: gaia_lab.cube.reads puts its single-source path there
                odc_builder._fill_nd_slice(readers, dst_gbox, cfg, out[index])
        return out


def _indices(key: Any, length: int) -> np.ndarray:
    """The positions along one axis that an integer or a slice selects."""
    if isinstance(key, slice):
        return np.arange(*key.indices(length))
    if isinstance(key, int | np.integer):
        position = int(key) + length if key < 0 else int(key)
        if not 0 <= position < length:
            raise IndexError(f"index {key} is out of bounds for an axis of {length}")
        return np.array([position])
    raise TypeError(f"cannot select with {type(key).__name__} on an indexed cube")


def open_index(
    href: str,
    request: CubeRequest,
    *,
    entry_id: str,
    resampling: str = "nearest",
) -> xr.Dataset:
    """The lazy cube of the items in a stac-geoparquet index, as ``open_raster_items`` makes it from the items."""
    with paused_gc():
        cube = IndexedCube(href, request, entry_id=entry_id, resampling=resampling)
        ds = cube.dataset_of()
    names = [band.name for band in cube.bands]
    for band in cube.bands:
        nodata, _ = cog._nodata_and_type(cube.first_assets[band.key])
        if nodata is not None and str(nodata).lower() != "nan" and ds[band.name].dtype.kind == "f":
            attrs = {k: v for k, v in ds[band.name].attrs.items() if k != "nodata"}
            ds[band.name] = ds[band.name].where(ds[band.name] != float(nodata)).assign_attrs(attrs)
        flags = cube.columns.present[band.key]
        lacking = 0 if flags is None else int((~flags).sum())
        if lacking:
            ds[band.name].attrs["gaia:items_without"] = f"{lacking} of {len(cube.columns.grid)}"
    ds = ds[names]
    ds = ds.rio.write_crs(ds.odc.crs.to_wkt()) if ds.rio.crs is None else ds
    ds.attrs.update({"gaia:index": href, "gaia:items": len(cube.columns.grid)})
    return ds


__all__ = ["INDEX_ROLE", "IndexedCube", "index_asset", "is_index", "open_index", "write_index"]
