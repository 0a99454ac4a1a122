"""NetCDF files (local, over HTTP(S) or object storage) and OPeNDAP endpoints as lazy, dask-backed Datasets."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

import fsspec
import xarray as xr

from gaia_lab.cube.opendap import open_opendap
from gaia_lab.errors import AssetError
from gaia_lab.query import CubeRequest

_REMOTE = ("http", "https", "s3", "gs", "gcs", "az", "abfs")


def open_netcdf(
    href: str,
    *,
    entry_id: str,
    chunks: Mapping[str, int] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    opendap: bool = False,
) -> xr.Dataset:
    """Open ``href`` lazily: only the header is read now, chunks are read by dask when computed.

    Remote files are read through fsspec (HTTP range requests), so a NetCDF-4 file is never downloaded whole;
    NetCDF-3 files, which h5netcdf cannot read, go through scipy's reader on the same file object. OPeNDAP
    endpoints are opened by netCDF-C's DAP client (gaia_lab.cube.opendap; give it the request there to have the
    subset read on the server).
    """
    if opendap:
        return open_opendap(href, CubeRequest(chunks=chunks), entry_id=entry_id)
    dask_chunks: dict[str, int] = dict(chunks) if chunks else {}
    try:
        if urlparse(href).scheme not in _REMOTE:
            return xr.open_dataset(href, chunks=dask_chunks)
        stream = fsspec.open(href, "rb", **dict(storage_options or {})).open()
        try:
            return xr.open_dataset(stream, engine="h5netcdf", chunks=dask_chunks)
        except (OSError, ValueError):
            stream.seek(0)
            return xr.open_dataset(stream, engine="scipy", chunks=dask_chunks)
    except FileNotFoundError:
        raise AssetError(href, "no such file", entry_id=entry_id) from None
    except Exception as error:
        # fsspec, aiohttp, h5py and netCDF-C raise their own families; the href and the cause say what to fix.
        raise AssetError(href, f"cannot open as NetCDF: {type(error).__name__}: {error}", entry_id=entry_id) from None
