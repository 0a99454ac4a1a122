"""STAC objects -> lazy cubes: picks the Zarr or the COG path from the assets and applies the query."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pystac
import xarray as xr

from gaia_lab.cube import cog, subset
from gaia_lab.cube.records import ItemRecord, as_records
from gaia_lab.cube.zarr import open_zarr
from gaia_lab.errors import AssetError, EmptyResult

ZARR_TYPES = ("application/vnd+zarr", "application/vnd.zarr", "application/x-zarr")

BBox = tuple[float, float, float, float]
Interval = tuple[datetime | None, datetime | None]


def is_zarr(asset: pystac.Asset) -> bool:
    media_type = (asset.media_type or "").lower().split(";")[0].strip()
    return media_type in ZARR_TYPES or "zarr" in (asset.roles or []) or asset.href.rstrip("/").endswith(".zarr")


def zarr_asset(obj: pystac.Collection | pystac.Item) -> tuple[str, pystac.Asset] | None:
    """The data Zarr asset of a collection or item, if it has one."""
    for key, asset in obj.assets.items():
        if is_zarr(asset) and (not asset.roles or "data" in asset.roles or "zarr" in asset.roles):
            return key, asset
    return None


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _bbox_overlaps(a: BBox, b: Sequence[float]) -> bool:
    w, s, e, n = a
    bw, bs, be, bn = b[0], b[1], b[2], b[3]
    if s > bn or bs > n:
        return False
    if w > e:  # antimeridian-crossing query
        return be >= w or bw <= e
    return not (w > be or bw > e)


def filter_items(
    items: Iterable[ItemRecord], bbox: BBox | None, interval: Interval | None, entry_id: str
) -> list[ItemRecord]:
    """Items whose STAC footprint and time overlap the query (metadata only)."""
    every = list(items)
    if not every:
        raise EmptyResult(entry_id, "items", "the entry has no items")
    kept = every
    if bbox is not None:
        kept = [item for item in kept if item.bbox is None or _bbox_overlaps(bbox, item.bbox)]
        if not kept:
            raise EmptyResult(entry_id, "bbox", f"{bbox} does not intersect any of its {len(every)} items")
    if interval is not None:
        start, end = _utc(interval[0]), _utc(interval[1])

        def overlaps(item: ItemRecord) -> bool:
            item_start, item_end = item.interval
            if start is not None and item_end is not None and item_end < start:
                return False
            return not (end is not None and item_start is not None and item_start > end)

        before = len(kept)
        kept = [item for item in kept if overlaps(item)]
        if not kept:
            raise EmptyResult(entry_id, "datetime", f"matches none of the {before} items in the bbox")
    return kept


def open_stac(
    obj: pystac.Collection | pystac.Item,
    *,
    entry_id: str,
    items: Iterable[ItemRecord | pystac.Item | Mapping[str, Any]] | None = None,
    bbox: BBox | None = None,
    datetime: Interval | None = None,
    variables: Sequence[str] | None = None,
    crs: object | None = None,
    resolution: float | None = None,
    chunks: Mapping[str, int] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    provider: str | None = None,
) -> xr.Dataset:
    """Open a collection (Zarr asset, or its COG items) or an item as one lazy Dataset."""
    found = zarr_asset(obj)
    if found is not None:
        _key, asset = found
        href = asset.get_absolute_href() or asset.href
        options = {**(storage_options or {}), **asset.extra_fields.get("xarray:storage_options", {})}
        ds = open_zarr(
            href,
            open_kwargs=asset.extra_fields.get("xarray:open_kwargs"),
            storage_options=options or None,
            chunks=chunks,
            entry_id=entry_id,
        )
        ds = subset.apply_query(
            ds, entry_id=entry_id, bbox=bbox, datetime=datetime, variables=variables, crs=crs, resolution=resolution
        )
        hrefs = [href]
    else:
        if isinstance(obj, pystac.Item):
            candidates = as_records([obj])
        else:
            candidates = as_records(items if items is not None else obj.get_items(recursive=True))
        selected = filter_items(candidates, bbox, datetime, entry_id)
        ds = cog.open_cog_items(
            selected,
            entry_id=entry_id,
            bands=variables,
            bbox=bbox,
            crs=crs,
            resolution=resolution,
            chunks=chunks,
        )
        hrefs = [str(a.get("href")) for item in selected for k, a in item.data_assets().items() if k in ds]
    if not ds.data_vars:
        raise AssetError(entry_id, "the cube has no data variables", entry_id=entry_id)
    ds.attrs.update(
        {
            "gaia:entry": entry_id,
            "gaia:provider": provider or entry_id.split("/", 1)[0],
            "gaia:assets": hrefs,
            "title": obj.title if isinstance(obj, pystac.Collection) and obj.title else ds.attrs.get("title", entry_id),
        }
    )
    return ds
