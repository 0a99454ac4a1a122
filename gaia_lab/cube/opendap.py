"""OPeNDAP endpoints as lazy, dask-backed Datasets whose subsets are read as DAP hyperslabs on the server.

netCDF-C's DAP2 client (compiled into the netCDF4 wheel) reads the DDS and DAS, and the small variables at once
(coordinates: one ``.dods`` request); every later read is a constraint expression such as ``sst[0:1][2:4][0:9]``.
The request's bbox/time/variables are selected on xarray's lazy backend arrays, and only then does each variable
become a dask array: the selection reaches the server as one hyperslab, whatever dask would fuse.
Chosen over xarray's pydap engine by measure against the lake's server: opening the OSTIA file takes netCDF-C 4
requests and pydap 11, both push the same hyperslab, and pydap's client warns at every http:// open.

Reads go through :class:`NamingArray`, so a server that goes down mid-compute gives an AssetError naming the URL and
the variable (on dask workers too), and every connection has a timeout: netCDF-C's curl settings ``HTTP.TIMEOUT`` and
``HTTP.CONNECTTIMEOUT``, set before the open and before each read (a worker reopens the dataset itself).
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Any

import dask.array as da
import netCDF4
import numpy as np
import xarray as xr
from dask.base import tokenize
from xarray.backends import NetCDF4DataStore

from gaia_lab.cube import subset
from gaia_lab.errors import AssetError
from gaia_lab.query import CubeRequest

DEFAULT_TIMEOUT = 30.0
RETRY_DELAY = 1.0


_rc_lock = threading.Lock()
_rc_timeout: str | None = None


def set_timeout(seconds: float) -> None:
    """netCDF-C's curl timeouts for the connections it opens from now on, in this process (netCDF-C keeps them in a
    global table: set under a lock, and only when they change, since every dask thread's read calls this)."""
    global _rc_timeout
    value = str(max(1, round(seconds)))
    with _rc_lock:
        if value != _rc_timeout:
            netCDF4.rc_set("HTTP.TIMEOUT", value)
            netCDF4.rc_set("HTTP.CONNECTTIMEOUT", value)
            _rc_timeout = value


class NamingArray:
    """A lazy xarray Variable read by position, whose read errors name the OPeNDAP URL and the variable; pickles to
    dask workers (xarray's file manager reopens the dataset there)."""

    def __init__(self, array: xr.Variable, url: str, variable: str, timeout: float, entry_id: str | None) -> None:
        self.array = array
        self.url = url
        self.variable = variable
        self.timeout = timeout
        self.entry_id = entry_id
        self.shape: tuple[int, ...] = tuple(array.shape)
        self.dtype = np.dtype(array.dtype)
        self.ndim = len(self.shape)

    def __getitem__(self, key: Any) -> np.ndarray:
        set_timeout(self.timeout)
        try:
            try:
                return np.asarray(self.array[key].values)
            except RuntimeError:  # netCDF-C's "I/O failure" / "DAP failure": a dropped connection gets one retry
                time.sleep(RETRY_DELAY)
                return np.asarray(self.array[key].values)
        except Exception as error:
            raise AssetError(
                self.url,
                f"variable {self.variable!r}: cannot read the block {_block(key, self.shape)} of the selection "
                "over OPeNDAP "
                f"({type(error).__name__}: {error}); is the server up and the dataset still published?",
                entry_id=self.entry_id,
            ) from None


def _block(key: Any, shape: tuple[int, ...]) -> str:
    """Index ranges of a read, as ``[0:53][2:4]`` (inclusive, like DAP), for error messages."""
    parts = []
    for item, size in zip(key if isinstance(key, tuple) else (key,), shape, strict=False):
        if isinstance(item, slice):
            start, stop, step = item.indices(size)
            parts.append(f"[{start}:{step}:{stop - 1}]" if step != 1 else f"[{start}:{stop - 1}]")
        else:
            parts.append(f"[{item}]")
    return "".join(parts) or "[]"


def open_opendap(
    url: str,
    request: CubeRequest | None = None,
    *,
    entry_id: str | None = None,
    timeout: float | None = None,
) -> xr.Dataset:
    """Open the OPeNDAP dataset at ``url`` as the cube ``request`` asks for, lazily: the DDS, the DAS and the 1-D
    coordinates are read now, data only by dask, as hyperslabs of the selection.

    The request's variables, time and bbox are selected *before* the variables become dask arrays: xarray's lazy
    indexing composes them into one start/count/stride per variable, which netCDF-C sends as the constraint
    expression, whatever dask would have fused. ``request.chunks`` maps dimensions to chunk sizes (default: one
    chunk per variable, so the subset is one request); reprojection, if asked for, runs on the dask arrays."""
    request = request or CubeRequest()
    name = entry_id or url
    seconds = float(timeout or DEFAULT_TIMEOUT)
    set_timeout(seconds)
    try:
        store = NetCDF4DataStore.open(url)
        # xarray retries a failed read of a remote store 6 times with backoff (32-64 s) before it raises: a dead
        # server would look like a hang. NamingArray retries once, then names the URL.
        store.is_remote = False
        ds = xr.open_dataset(store, chunks=None)
    except Exception as error:
        # netCDF-C reports a missing dataset, a refused connection and a timeout alike as OSError with its code.
        raise AssetError(
            url, f"cannot open as an OPeNDAP dataset: {type(error).__name__}: {error}", entry_id=entry_id
        ) from None
    selection = replace(request, crs=None, resolution=None, chunks=None)
    ds = subset.apply_query(ds, selection, entry_id=name)
    chunks = request.chunks or {}
    token = tokenize(url, selection, ds.attrs, {n: (v.dims, v.shape) for n, v in ds.variables.items()})
    wrapped: dict[str, xr.Variable] = {}
    for key, variable in ds.variables.items():
        if key in ds.indexes or variable.ndim == 0:
            continue  # index coordinates are in memory already; scalars (grid mappings) cost nothing
        array = NamingArray(variable, url, str(key), seconds, entry_id)
        sizes = tuple(int(chunks.get(str(dim), -1)) for dim in variable.dims)
        data = da.from_array(
            array,
            chunks=sizes,
            name=f"opendap-{key}-{token}",
            asarray=False,
            meta=np.empty((0,) * variable.ndim, dtype=array.dtype),
        )
        wrapped[str(key)] = variable.copy(deep=False, data=data)
    coords = {key: var for key, var in wrapped.items() if key in ds.coords}
    data_vars = {key: var for key, var in wrapped.items() if key not in ds.coords}
    opened = ds.assign_coords(coords).assign(data_vars)
    opened.attrs["gaia:opendap"] = url
    return subset.reproject(opened, request.crs, request.resolution, name)
