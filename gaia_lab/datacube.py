"""``gl.open_datacube``: open an entry id, an Entry, a STAC href or a Zarr/GeoTIFF href as a lazy cube."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

import pystac
import xarray as xr

from gaia_lab.catalog import Catalog, Entry, open_catalog
from gaia_lab.catalog.entry import _parse_resolution
from gaia_lab.catalog.providers.stac_io import ProviderStacIO
from gaia_lab.catalog.query import parse_bbox, parse_datetime, parse_names
from gaia_lab.cube import open_geotiff, open_stac, open_zarr
from gaia_lab.cube.subset import apply_query
from gaia_lab.errors import InvalidQuery


def _is_href(text: str) -> bool:
    path = urlparse(text).path or text
    return "://" in text or path.endswith((".json", ".zarr", ".zarr/", ".tif", ".tiff")) or text.startswith(("/", "."))


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
) -> xr.Dataset:
    """A lazy Dataset from ``"<provider>/<id>"`` (looked up in ``catalog``), an Entry, or an href.

    Hrefs: a STAC item/collection JSON, a Zarr store (``.zarr``) or a GeoTIFF; the same query arguments as
    :meth:`Entry.to_xarray` apply.
    """
    query: dict[str, Any] = {
        "bbox": bbox,
        "datetime": datetime,
        "variables": variables,
        "crs": crs,
        "resolution": resolution,
        "chunks": chunks,
    }
    if isinstance(source, Entry):
        return source.to_xarray(**query)
    if not isinstance(source, str) or not source:
        raise InvalidQuery("source", source, "expected an entry id '<provider>/<id>', an Entry or an href")
    if not _is_href(source):
        return (catalog or open_catalog())[source].to_xarray(**query)
    parsed_bbox, interval = parse_bbox(bbox), parse_datetime(datetime)
    names, res = parse_names(variables, "variables"), _parse_resolution(resolution)
    path = (urlparse(source).path or source).rstrip("/")
    if path.endswith(".json"):
        obj = ProviderStacIO("href", storage_options=dict(storage_options or {})).read_stac(source)
        if not isinstance(obj, pystac.Collection | pystac.Item):
            raise InvalidQuery("source", source, "a STAC href must point at a collection or an item")
        return open_stac(
            obj,
            entry_id=source,
            bbox=parsed_bbox,
            datetime=interval,
            variables=names,
            crs=crs,
            resolution=res,
            chunks=chunks,
            storage_options=storage_options,
            provider="href",
        )
    if path.endswith(".zarr"):
        ds = open_zarr(source, storage_options=storage_options, chunks=chunks, entry_id=source)
    else:
        ds = open_geotiff(source, entry_id=source, chunks=chunks)
    return apply_query(
        ds, entry_id=source, bbox=parsed_bbox, datetime=interval, variables=names, crs=crs, resolution=res
    )
