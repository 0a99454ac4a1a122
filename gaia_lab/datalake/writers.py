"""Writing lake files the way a hub serves them, atomically: Zarr stores (format 2 or 3, consolidated) and
Cloud-Optimized GeoTIFFs (tiled 256, deflate, overviews, nodata set)."""

from __future__ import annotations

import json
import os
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import rioxarray  # noqa: F401  (registers .rio)
import xarray as xr

BUILDER_VERSION = 3
MANIFEST = ".gaia-build.json"


WRITERS_VERSION = 2  # part of every dataset's fingerprint: a change of how stores are written rebuilds them


def write_zarr(ds: xr.Dataset, path: Path, *, zarr_format: int, chunks: dict[str, int]) -> None:
    partial = path.with_name(path.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    # Non-index coordinates (bounds, reference times) get the data's chunks along shared dimensions: a time subset
    # of the store then has one chunk structure (``ds.chunks`` works, rechunking needs no warning).
    to_chunk = {**ds.data_vars, **{n: c for n, c in ds.coords.items() if n not in ds.indexes and c.ndim}}
    encoding = {
        name: {"chunks": tuple(chunks.get(str(d), ds.sizes[d]) for d in var.dims)} for name, var in to_chunk.items()
    }
    with warnings.catch_warnings():
        # Consolidated metadata is not part of the Zarr v3 spec; zarr-python warns, and readers still use it.
        warnings.filterwarnings("ignore", message=".*[Cc]onsolidated metadata.*")
        ds.to_zarr(partial, mode="w", zarr_format=zarr_format, consolidated=True, encoding=encoding)
    shutil.rmtree(path, ignore_errors=True)
    os.replace(partial, path)


def write_netcdf(ds: xr.Dataset, path: Path, *, chunks: dict[str, int]) -> None:
    """A NetCDF-4 file (deflate, chunked along ``chunks``), as THREDDS and OPeNDAP servers publish them."""
    partial = path.with_name(path.name + ".partial")
    encoding = {
        name: {"zlib": True, "complevel": 4, "chunksizes": tuple(chunks.get(str(d), ds.sizes[d]) for d in var.dims)}
        for name, var in ds.data_vars.items()
        if var.ndim
    }
    ds.to_netcdf(partial, format="NETCDF4", engine="netcdf4", encoding=encoding)
    os.replace(partial, path)


def write_cog(array: xr.DataArray, path: Path, *, nodata: float | int | None) -> None:
    """A COG through GDAL's COG driver; ``array`` must carry its CRS and transform (rioxarray)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial.tif")
    if nodata is not None:
        array = array.rio.write_nodata(nodata, encoded=False)
    array.rio.to_raster(
        partial,
        driver="COG",
        compress="DEFLATE",
        blocksize=256,
        overview_resampling="average",
        predictor=2 if array.dtype.kind in "iu" else 3,
        BIGTIFF="IF_SAFER",
    )
    os.replace(partial, path)


def up_to_date(directory: Path, fingerprint: dict[str, Any]) -> bool:
    manifest = directory / MANIFEST
    if not manifest.is_file():
        return False
    try:
        return bool(json.loads(manifest.read_text()) == fingerprint)
    except ValueError:
        return False


def build_once(directory: Path, fingerprint: dict[str, Any], produce: Callable[[Path], None]) -> bool:
    """Run ``produce(staging_dir)`` unless ``directory`` was built from the same sources by this builder version.

    The data is produced in a staging directory and swapped in whole, so an interrupted build never leaves a
    half-written store behind. Returns whether it (re)built.
    """
    fingerprint = {"builder": BUILDER_VERSION, **fingerprint}
    if up_to_date(directory, fingerprint):
        return False
    staging = directory.with_name(directory.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    produce(staging)
    (staging / MANIFEST).write_text(json.dumps(fingerprint, indent=1))
    old = directory.with_name(directory.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if directory.exists():
        os.replace(directory, old)
    os.replace(staging, directory)
    shutil.rmtree(old, ignore_errors=True)
    return True
