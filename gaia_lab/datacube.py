"""``gl.open_datacube``: open an entry id, an Entry, a STAC href or a Zarr/GeoTIFF href as a lazy cube."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pystac
import xarray as xr

from gaia_lab.catalog import Catalog, Entry, open_catalog
from gaia_lab.catalog.providers.stac_io import ProviderStacIO
from gaia_lab.cube import apply_query, open_geotiff, open_stac, open_virtual, open_zarr
from gaia_lab.cube.stac import index_module, vector_module
from gaia_lab.errors import InvalidQuery
from gaia_lab.query import CubeRequest
from gaia_lab.stac_item import StacItem


def _is_href(text: str) -> bool:
    path = urlparse(text).path or text
    suffixes = (".json", ".zarr", ".zarr/", ".tif", ".tiff", ".icechunk", ".icechunk/", ".parq", ".parquet")
    return "://" in text or path.endswith(suffixes) or text.startswith(("/", "."))


def _is_references(href: str) -> bool:
    """A local ``.json`` that holds kerchunk references rather than STAC (remote ones are read as STAC)."""
    local = Path(href).expanduser()
    if "://" in href or not local.is_file():
        return False
    with local.open("rb") as handle:
        head = handle.read(4096)
    return b'"refs"' in head and b'"stac_version"' not in head


def _is_reference_parquet(href: str, path: str) -> bool:
    """kerchunk Parquet references are a directory (``.parq``, or a local ``.parquet`` directory); a GeoParquet
    table is one file."""
    return path.endswith(".parq") or (path.endswith(".parquet") and "://" not in href and Path(href).is_dir())


def open_datacube(
    source: str | Entry,
    *,
    catalog: Catalog | None = None,
    bbox: object = None,
    datetime: object = None,
    variables: object = None,
    crs: object = None,
    resolution: object = None,
    chunks: Mapping[str, int] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    reader: str | None = None,
) -> xr.Dataset:
    """A lazy Dataset from ``"<provider>/<id>"`` (looked up in ``catalog``), an Entry, or an href.

    Hrefs: a STAC item/collection JSON, a Zarr store (``.zarr``), a virtual Zarr store (an Icechunk repository
    ``.icechunk``, kerchunk references ``.json``/``.parq``), a GeoParquet table (``.parquet``, opened as an xvec
    vector cube; a stac-geoparquet item index opens as the raster cube of its items) or a GeoTIFF; the same query
    arguments as :meth:`Entry.to_xarray` apply.
    """
    query: dict[str, Any] = {
        "bbox": bbox,
        "datetime": datetime,
        "variables": variables,
        "crs": crs,
        "resolution": resolution,
        "chunks": chunks,
        "reader": reader,
    }
    if isinstance(source, Entry):
        return source.to_xarray(**query)
    if not isinstance(source, str) or not source:
        raise InvalidQuery("source", source, "expected an entry id '<provider>/<id>', an Entry or an href")
    if not _is_href(source):
        return (catalog or open_catalog())[source].to_xarray(**query)
    request = CubeRequest.parse(**query)
    path = (urlparse(source).path or source).rstrip("/")
    virtual = path.endswith(".icechunk") or _is_reference_parquet(source, path)
    if virtual or (path.endswith(".json") and _is_references(source)):
        ds = open_virtual(source, storage_options=storage_options, chunks=request.chunks, entry_id=source)
        return apply_query(ds, request, entry_id=source)
    if path.endswith(".json"):
        obj = ProviderStacIO("href", storage_options=dict(storage_options or {})).read_stac(source)
        if not isinstance(obj, pystac.Collection | pystac.Item):
            raise InvalidQuery("source", source, "a STAC href must point at a collection or an item")
        stac = StacItem.from_pystac(obj) if isinstance(obj, pystac.Item) else obj
        return open_stac(stac, request, entry_id=source, storage_options=storage_options, provider="href")
    if path.endswith(".parquet"):
        index = index_module(source, source)
        if index.is_index(source):  # items indexed in stac-geoparquet: a raster cube of them
            indexed: xr.Dataset = index.open_index(source, request, entry_id=source)
            return indexed
        vector = vector_module(source, source)
        cube: xr.Dataset = vector.open_geoparquet(source, request, entry_id=source, storage_options=storage_options)
        return cube
    if path.endswith(".zarr"):
        ds = open_zarr(source, storage_options=storage_options, chunks=request.chunks, entry_id=source)
    else:
        ds = open_geotiff(
            source, entry_id=source, chunks=request.chunks, storage_options=storage_options, provider="href"
        )
    return apply_query(ds, request, entry_id=source)
