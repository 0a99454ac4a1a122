"""The links of a metadata record (ISO online resources, OGC API - Records links): which are data GAIA Lab opens,
and opening them as a cube. Shared by the CSW and the Records providers.

A link is data when its media type, protocol or file extension says Zarr, (Cloud-Optimized) GeoTIFF, NetCDF,
OPeNDAP or STAC; web pages, WMS endpoints and download portals are not. Several data links: the most capable
format is tried first (a Zarr store or STAC document before a lone file).
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import pystac

from gaia_lab.catalog.providers.stac_io import ProviderStacIO
from gaia_lab.errors import AssetError, EntryNotOpenable, GaiaLabError, ProviderError
from gaia_lab.query import CubeRequest
from gaia_lab.stac_item import NETCDF_TYPES, ZARR_TYPES, StacItem

if TYPE_CHECKING:
    import xarray as xr

ZARR = "zarr"
STAC = "stac"
GEOTIFF = "geotiff"
NETCDF = "netcdf"
OPENDAP = "opendap"
# Tried in this order when a record has several data links.
PREFERENCE = (ZARR, STAC, GEOTIFF, NETCDF, OPENDAP)
_EXTENSIONS = {".zarr": ZARR, ".tif": GEOTIFF, ".tiff": GEOTIFF, ".nc": NETCDF, ".nc4": NETCDF, ".json": STAC}
_TIFF_TYPES = ("image/tiff", "image/geotiff")
# Relations of Records links that describe the record itself, never its data.
_NOT_DATA_RELS = frozenset({"self", "root", "parent", "collection", "alternate", "license", "describedby", "icon"})


@dataclass(frozen=True)
class Link:
    """One online resource: ``protocol`` is the ISO protocol (``OPeNDAP:OPeNDAP``, ``WWW:DOWNLOAD-1.0-http--download``)
    or the Records link relation; ``media_type`` the declared type; ``name`` the resource's name."""

    href: str
    protocol: str = ""
    media_type: str = ""
    name: str = ""
    description: str = ""
    rel: str = ""

    @property
    def kind(self) -> str | None:
        return classify(self)

    def describe(self) -> str:
        return f"{self.protocol or self.media_type or 'link'} {self.href}"

    def to_dict(self) -> dict[str, str]:
        return {key: value for key, value in asdict(self).items() if value}


def classify(link: Link) -> str | None:
    """What ``link`` opens as (``zarr``, ``stac``, ``geotiff``, ``netcdf``, ``opendap``); None when not data."""
    href = link.href.strip()
    if not href or urlparse(href).scheme in ("mailto", "ftp"):
        return None
    if link.rel in _NOT_DATA_RELS:
        return None
    protocol = link.protocol.lower()
    media_type = link.media_type.lower().split(";", 1)[0].strip()
    parameters = link.media_type.lower()
    if "opendap" in protocol or "dods" in protocol or "/dodsc/" in href.lower():
        return None if href.lower().endswith((".html", ".das", ".dds")) else OPENDAP
    if media_type in ZARR_TYPES or "zarr" in protocol:
        return ZARR
    if media_type in _TIFF_TYPES:
        return GEOTIFF
    if media_type in NETCDF_TYPES:
        return NETCDF
    if "stac" in protocol or "stac" in parameters or "stac" in link.name.lower():
        return STAC
    if media_type and media_type not in ("application/json", "application/geo+json", "application/octet-stream"):
        return None  # a declared type that is no data format (text/html, image/png, WMS capabilities ...)
    path = urlparse(href).path.rstrip("/").lower()
    return _EXTENSIONS.get(posixpath.splitext(path)[1])


def data_links(links: Sequence[Link]) -> list[Link]:
    """The links GAIA Lab can open, most capable format first."""
    found = [link for link in links if link.kind is not None]
    return sorted(found, key=lambda link: PREFERENCE.index(str(link.kind)))


def describe_links(links: Sequence[Link]) -> str:
    if not links:
        return "the record has no online resources"
    return "its links are: " + "; ".join(link.describe() for link in links)


def open_links(
    links: Sequence[Link],
    request: CubeRequest,
    *,
    entry_id: str,
    provider: str,
    storage_options: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> xr.Dataset:
    """The cube behind the first data link that opens; EntryNotOpenable when none is data."""
    candidates = data_links(links)
    if not candidates:
        raise EntryNotOpenable(
            entry_id,
            "metadata only: none of its links is data GAIA Lab opens (Zarr, COG/GeoTIFF, NetCDF, OPeNDAP, STAC); "
            + describe_links(links),
        )
    first_error: GaiaLabError | None = None
    for link in candidates:
        try:
            ds = _open(link, request, entry_id, provider, storage_options or {}, headers or {}, timeout)
        except _NotStac:
            continue
        except (AssetError, ProviderError) as error:
            first_error = first_error or error
            continue
        ds.attrs.setdefault("gaia:entry", entry_id)
        ds.attrs.setdefault("gaia:provider", provider)
        ds.attrs["gaia:link"] = link.href
        return ds
    if first_error is not None:
        raise first_error
    raise EntryNotOpenable(entry_id, "none of its JSON links is a STAC item or collection; " + describe_links(links))


class _NotStac(Exception):
    """A JSON link that turned out not to be STAC: not an error of the entry, just not data."""


def _open(
    link: Link,
    request: CubeRequest,
    entry_id: str,
    provider: str,
    storage_options: dict[str, Any],
    headers: dict[str, str],
    timeout: float,
) -> xr.Dataset:
    # A search needs none of the cube stack (dask, rasterio, odc-stac): it is imported on the first open.
    from gaia_lab.cube import apply_query, open_geotiff, open_netcdf, open_opendap, open_stac, open_zarr

    kind = link.kind
    href = link.href
    if kind == STAC:
        io = ProviderStacIO(provider, headers=headers, timeout=timeout, storage_options=storage_options)
        try:
            obj = pystac.read_dict(io.json_loads(io.read_text_from_href(href)), href=href, stac_io=io)
        except (pystac.STACError, pystac.STACTypeError, KeyError, ValueError, TypeError):
            raise _NotStac(href) from None
        if not isinstance(obj, pystac.Collection | pystac.Item):
            raise _NotStac(href)
        source = StacItem.from_pystac(obj) if isinstance(obj, pystac.Item) else obj
        return open_stac(source, request, entry_id=entry_id, storage_options=storage_options, provider=provider)
    if kind == ZARR:
        ds = open_zarr(href, storage_options=storage_options, chunks=request.chunks, entry_id=entry_id)
    elif kind == GEOTIFF:
        ds = open_geotiff(
            href, entry_id=entry_id, chunks=request.chunks, storage_options=storage_options, provider=provider
        )
        if len(ds.data_vars) == 1 and link.name.isidentifier():
            ds = ds.rename({next(iter(ds.data_vars)): link.name})  # the record names the band
    elif kind == OPENDAP:
        # The request goes with the open: its subset is read on the server (hyperslabs), not after a download.
        return open_opendap(href, request, entry_id=entry_id, timeout=timeout)
    else:
        ds = open_netcdf(
            href, entry_id=entry_id, chunks=request.chunks, storage_options=storage_options, provider=provider
        )
    return apply_query(ds, request, entry_id=entry_id)
