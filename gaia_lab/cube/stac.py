"""STAC objects -> lazy cubes: picks the Zarr, the OPeNDAP or the raster path from the assets and applies
the request."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import ModuleType
from typing import Any

import pystac
import xarray as xr

from gaia_lab.bulk import paused_gc
from gaia_lab.cube import cog, subset
from gaia_lab.cube.netcdf import open_netcdf
from gaia_lab.cube.opendap import open_opendap
from gaia_lab.cube.virtual import open_virtual
from gaia_lab.cube.zarr import open_zarr
from gaia_lab.errors import AssetError, EmptyResult, EntryNotOpenable
from gaia_lab.query import CubeRequest, interval_intersects
from gaia_lab.stac_item import (
    RASTER_FORMATS,
    StacItem,
    as_items,
    asset_dicts,
    asset_format,
    geoparquet_asset,
    index_asset,
    netcdf_asset,
    opendap_asset,
    table_asset,
    zarr_asset,
)


def filter_items(items: Iterable[StacItem], request: CubeRequest, entry_id: str) -> list[StacItem]:
    """Items whose STAC footprint and time overlap the request (metadata only)."""
    every = list(items)
    if not every:
        raise EmptyResult(entry_id, "items", "the entry has no items")
    kept = every
    if request.bbox is not None:
        bbox = request.bbox
        kept = [item for item in kept if item.bbox is None or bbox.intersects(item.bbox)]
        if not kept:
            raise EmptyResult(entry_id, "bbox", f"{tuple(bbox)} does not intersect any of its {len(every)} items")
    if request.datetime is not None:
        interval = request.datetime
        before = len(kept)
        kept = [item for item in kept if interval_intersects(interval, item.interval)]
        if not kept:
            raise EmptyResult(entry_id, "datetime", f"matches none of the {before} items in the bbox")
    return kept


def open_stac(
    obj: pystac.Collection | StacItem,
    request: CubeRequest,
    *,
    entry_id: str,
    items: Iterable[StacItem | pystac.Item | Mapping[str, Any]] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    provider: str | None = None,
) -> xr.Dataset:
    """Open a collection (its Zarr asset, or its raster items) or an item as one lazy Dataset."""
    # Thousands of items: the checks and the load allocate millions of small objects, and every cyclic collection
    # would walk all the item documents already held (see gaia_lab.bulk).
    with paused_gc():
        return _open_stac(
            obj, request, entry_id=entry_id, items=items, storage_options=storage_options, provider=provider
        )


def _open_stac(
    obj: pystac.Collection | StacItem,
    request: CubeRequest,
    *,
    entry_id: str,
    items: Iterable[StacItem | pystac.Item | Mapping[str, Any]] | None,
    storage_options: Mapping[str, Any] | None,
    provider: str | None,
) -> xr.Dataset:
    assets = obj.assets if isinstance(obj, StacItem) else asset_dicts(obj)
    zarr_key = zarr_asset(assets)
    table_key = geoparquet_asset(assets) if zarr_key is None else None
    if table_key is not None:
        # vector data (sites, stations): an xvec cube along a geometry dimension, not a grid
        href = str(assets[table_key]["href"])
        ds: xr.Dataset = vector_module(href, entry_id).open_geoparquet(
            href, request, entry_id=entry_id, storage_options=storage_options
        )
        hrefs = [href]
    elif zarr_key is not None:
        asset = assets[zarr_key]
        href = str(asset["href"])
        options = {**(storage_options or {}), **asset.get("xarray:storage_options", {})}
        virtual = asset.get("gaia:virtual")
        if isinstance(virtual, Mapping) or "virtual" in (asset.get("roles") or ()):
            # a virtual Zarr store over NetCDF files (gaia-lab virtualize): Icechunk or kerchunk references
            ds = open_virtual(
                href,
                storage_options=options or None,
                chunks=request.chunks,
                format=virtual.get("format") if isinstance(virtual, Mapping) else None,
                entry_id=entry_id,
            )
        else:
            ds = open_zarr(
                href,
                open_kwargs=asset.get("xarray:open_kwargs"),
                storage_options=options or None,
                chunks=request.chunks,
                entry_id=entry_id,
                provider=provider,
            )
        ds = subset.apply_query(ds, request, entry_id=entry_id)
        hrefs = [href]
    elif (opendap_key := opendap_asset(assets)) is not None:
        href = str(assets[opendap_key]["href"])
        ds = open_opendap(href, request, entry_id=entry_id)  # the request's subset is read on the server
        hrefs = [href]
    elif items is None and not isinstance(obj, StacItem) and (index_key := index_asset(assets)) is not None:
        # the items are indexed in stac-geoparquet: the cube opens from its columns, no item document read
        href = str(assets[index_key]["href"])
        ds = index_module(href, entry_id).open_index(href, request, entry_id=entry_id)
        hrefs = [href]
    elif (
        isinstance(obj, StacItem)
        and (netcdf_key := netcdf_asset(assets)) is not None
        and not any(asset_format(a) in RASTER_FORMATS for a in obj.data_assets().values())
        and not {"proj:shape", "proj:transform"} & set(obj.properties)
    ):
        # a NetCDF file alone on an item that describes no raster grid (a processing result: a station time series
        # in CF discrete sampling geometry); a gridded item's assets are read tile by tile, NetCDF is not one of them
        href = str(assets[netcdf_key]["href"])
        ds = open_netcdf(href, entry_id=entry_id, chunks=request.chunks, storage_options=storage_options,
                         provider=provider)  # fmt: skip
        ds = subset.apply_query(ds, request, entry_id=entry_id)
        hrefs = [href]
    elif (
        isinstance(obj, StacItem)
        and table_asset(assets) is not None
        and not obj.data_assets().keys() - {table_asset(assets)}
    ):
        raise EntryNotOpenable(entry_id, "its data is a CSV table, not a cube: open it with to_geopandas()")
    else:
        if isinstance(obj, StacItem):
            candidates = [obj]
        else:
            candidates = as_items(items if items is not None else obj.get_items(recursive=True))
        selected = filter_items(candidates, request, entry_id)
        ds, asset_keys = cog.open_raster_items(
            selected, request, entry_id=entry_id, storage_options=storage_options, provider=provider
        )
        hrefs = [str(item.assets[key]["href"]) for item in selected for key in asset_keys if key in item.assets]
    if not ds.data_vars:
        raise AssetError(entry_id, "the cube has no data variables", entry_id=entry_id)
    ds.attrs.update(
        {
            "gaia:entry": entry_id,
            "gaia:provider": provider or entry_id.split("/", 1)[0],
            "gaia:assets": hrefs,
            "title": obj.title or ds.attrs.get("title", entry_id),
        }
    )
    return ds


def open_stac_table(
    obj: pystac.Collection | StacItem,
    request: CubeRequest,
    *,
    entry_id: str,
    storage_options: Mapping[str, Any] | None = None,
) -> Any:
    """The table of a collection or item: its GeoParquet asset as a GeoDataFrame, else its CSV asset (a
    GeoDataFrame of points with longitude/latitude columns, else a DataFrame); bbox and variables as in
    ``request``."""
    assets = obj.assets if isinstance(obj, StacItem) else asset_dicts(obj)
    key = table_asset(assets)
    if key is None:
        raise EntryNotOpenable(
            entry_id, f"no GeoParquet or CSV asset to open as a table; its assets are {sorted(assets)}"
        )
    href = str(assets[key]["href"])
    reader = vector_module(href, entry_id)
    if key != geoparquet_asset(assets):
        return reader.read_csv_table(href, request, entry_id=entry_id, storage_options=storage_options)
    return reader.read_geodataframe(href, request, entry_id=entry_id, storage_options=storage_options)


def index_module(href: str, entry_id: str | None = None) -> ModuleType:
    """``gaia_lab.cube.stac_index``, imported when an item index is first opened (pyarrow and stac-geoparquet are
    the ``index`` extra)."""
    try:
        from gaia_lab.cube import stac_index
    except ImportError as error:
        raise AssetError(
            href,
            f"opening a stac-geoparquet item index needs {error.name}: pip install 'gaia-lab[index]'",
            entry_id=entry_id,
        ) from None
    return stac_index


def vector_module(href: str, entry_id: str | None = None) -> ModuleType:
    """``gaia_lab.cube.vector``, imported when a table is first opened (geopandas, pyarrow and xvec are the
    ``vector`` extra)."""
    try:
        from gaia_lab.cube import vector
    except ImportError as error:
        raise AssetError(
            href, f"opening GeoParquet needs {error.name}: pip install 'gaia-lab[vector]'", entry_id=entry_id
        ) from None
    return vector
