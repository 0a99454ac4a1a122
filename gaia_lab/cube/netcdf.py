"""NetCDF files (local, over HTTP(S) or object storage) and OPeNDAP endpoints as lazy, dask-backed Datasets."""

from __future__ import annotations

import atexit
import contextlib
import weakref
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

import fsspec
import xarray as xr
from xarray.backends import CachingFileManager, H5NetCDFStore
from xarray.backends.locks import HDF5_LOCK

from gaia_lab.cube import s3
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
    provider: str | None = None,
) -> xr.Dataset:
    """Open ``href`` lazily: only the header is read now, chunks are read by dask when computed.

    Remote files are read through fsspec (HTTP range requests), so a NetCDF-4 file is never downloaded whole;
    NetCDF-3 files, which h5netcdf cannot read, go through scipy's reader on the same file object. OPeNDAP
    endpoints are opened by netCDF-C's DAP client (gaia_lab.cube.opendap; give it the request there to have the
    subset read on the server).

    An ``s3://`` file reads with the credentials in ``storage_options``, carried by reference: a NetCDF-4 file is
    opened by a file manager that pickles as its opener, the href and the reference, and opens it through s3fs
    (``gaia_lab.cube.s3_filesystem``) in the process that reads; a refusal, at open or at compute, is an
    AssetError naming the bucket and ``provider``. (A NetCDF-3 file goes to scipy as an s3fs file object, which
    xarray reopens wherever the graph is unpickled.)
    """
    if opendap:
        return open_opendap(href, CubeRequest(chunks=chunks), entry_id=entry_id)
    dask_chunks: dict[str, int] = dict(chunks) if chunks else {}
    try:
        if urlparse(href).scheme not in _REMOTE:
            return xr.open_dataset(href, chunks=dask_chunks)
        if s3.is_s3(href):
            ref = s3.register(storage_options, provider or entry_id.split("/", 1)[0])
            hdf5 = _open_s3_hdf5(href, ref, dask_chunks)
            if hdf5 is not None:
                return hdf5
            stream = _s3_stream(href, ref, entry_id)
        else:
            stream = fsspec.open(href, "rb", **dict(storage_options or {})).open()
        try:
            return xr.open_dataset(stream, engine="h5netcdf", chunks=dask_chunks)
        except (OSError, ValueError):
            stream.seek(0)
            return xr.open_dataset(stream, engine="scipy", chunks=dask_chunks)
    except AssetError:
        raise
    except FileNotFoundError:
        raise AssetError(href, "no such file", entry_id=entry_id) from None
    except Exception as error:
        # fsspec, aiohttp, h5py and netCDF-C raise their own families; the href and the cause say what to fix.
        raise AssetError(href, f"cannot open as NetCDF: {type(error).__name__}: {error}", entry_id=entry_id) from None


def open_s3_hdf5_file(href: str, ref: str, mode: str = "r") -> Any:
    """``h5netcdf.File`` on ``href`` through s3fs with the credentials ``ref`` names (the opener xarray's file
    manager calls, in the process that reads)."""
    import h5netcdf

    stream = _s3_stream(href, ref, None)
    opened = h5netcdf.File(stream, mode=mode, decode_vlen_strings=True)
    _open_files[:] = [ref for ref in _open_files if ref() is not None] + [weakref.ref(opened)]
    return opened


_open_files: list[weakref.ref[Any]] = []  # h5netcdf's files are not hashable: no WeakSet


@atexit.register
def _close_open_files() -> None:
    # Closed before the interpreter's teardown: HDF5 closing a file that reads through a Python file object (s3fs,
    # whose event-loop thread is gone by then) while modules are being torn down can crash the process.
    for ref in list(_open_files):
        opened = ref()
        if opened is not None:
            with contextlib.suppress(Exception):
                opened.close()


def _open_s3_hdf5(href: str, ref: str, chunks: dict[str, int]) -> xr.Dataset | None:
    """A NetCDF-4 file on S3 (``None``: not HDF5).

    xarray keeps a file object it is given in a manager that opens it again as soon as it is unpickled, in
    whichever process unpickles the graph (a Dask scheduler, which holds no credentials); this manager pickles as
    the opener and its arguments, the href and the credentials *reference*, and opens where it reads."""
    manager = CachingFileManager(open_s3_hdf5_file, href, ref, mode="r")
    try:
        manager.acquire()
    except AssetError:
        manager.close()
        raise
    except (OSError, ValueError):
        manager.close()
        return None  # not HDF5: NetCDF-3, read by scipy
    return xr.open_dataset(H5NetCDFStore(manager, mode="r", lock=HDF5_LOCK), chunks=chunks)


def _s3_stream(href: str, ref: str, entry_id: str | None) -> Any:
    from gaia_lab.cube.s3_filesystem import CredentialedS3FileSystem

    try:
        return CredentialedS3FileSystem(gaia_credentials=ref).open(href.split("://", 1)[1], "rb")
    except Exception as error:
        failure = s3.translate(error, href, ref, entry_id=entry_id)
        if failure is None:
            raise
    raise failure
