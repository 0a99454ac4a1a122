"""How GAIA Lab's raster cubes read their tiles: odc-loader's rasterio reader, with read errors naming the href
and three costs taken off the per-file path.

Profiles (py-spy ``--gil``) of a mean over 1,000 512x512 COGs with two threads showed the decode itself (GDAL,
GIL released) at under half of each read; the rest held the GIL:

- every ``rasterio.open`` and every nested ``rasterio.Env`` restarts a GDAL environment, and rasterio then searches
  its wheel for the GDAL and PROJ data folders (``os.path.exists`` calls) unless ``GDAL_DATA`` / ``PROJ_DATA`` are
  set: half of the cost of opening a small file. ``pin_gdal_data_paths`` sets them to the folders rasterio itself
  finds, once per process;
- odc-loader recomputes the reprojection of every source onto its destination tile at every read
  (``compute_reproject_roi``, 0.2 ms of pure Python), though a collection's items share a few grids and a cube's
  tiles repeat: our reads memoize it per (source grid, destination tile, tolerance);
- odc-loader fills each time slice of a chunk with nodata, reads the source into a temporary array and fuses that
  into the slice (two more passes over memory). When every slice of a load gets at most one source (time series of
  tiles), GAIA Lab's loads read straight into the slice, which ``rio_read`` supports through its ``dst`` argument;
- odc-loader enters a nested ``rasterio.Env(VSI_CACHE=False)`` around every read (13% of a 1 MB COG's read,
  logging included). A source that pastes onto its destination (same grid, no resampling) is read without it:
  ``VSI_CACHE`` only matters to the warp branch, which keeps odc-loader's path.

The last two patch module functions of odc-loader but only act on GAIA Lab's own reads (``HrefNamingReader``,
and loads whose fuser is ``COPY_FUSER``): ``odc.stac.load`` used directly behaves as released. The upstream fixes
would be an LRU cache in ``_reproject_info_from_rio`` and a single-source branch in ``_fill_nd_slice``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import rasterio
from odc.geo.converters import rio_geobox
from odc.geo.geobox import GeoBox
from odc.geo.overlap import ReprojectInfo, compute_reproject_roi
from odc.loader import _builder as odc_builder
from odc.loader import _rio as odc_rio
from odc.loader._reader import resolve_band_query, resolve_dst_fill_value, resolve_src_nodata
from odc.loader._rio import RioDriver, RioReader
from odc.loader.types import RasterLoadParams, RasterReader, RasterSource, ReaderSubsetSelection
from rasterio.env import GDALDataFinder, PROJDataFinder

from gaia_lab.errors import AssetError


def pin_gdal_data_paths() -> None:
    """Set ``GDAL_DATA`` and ``PROJ_DATA`` to the folders shipped in rasterio's wheel, unless already set.

    Only wheel installs are touched: a GDAL built with its data paths compiled in needs no variable. rasterio
    itself once set ``GDAL_DATA`` in ``os.environ`` the same way; child processes inherit the variables, and they
    name the data of the GDAL/PROJ versions in rasterio's wheel (pyproj's wheel keeps using its own copy)."""
    gdal_data = GDALDataFinder().search_wheel()
    if gdal_data and "GDAL_DATA" not in os.environ:
        os.environ["GDAL_DATA"] = gdal_data
    proj_data = PROJDataFinder().search_wheel()
    if proj_data and "PROJ_DATA" not in os.environ and "PROJ_LIB" not in os.environ:
        os.environ["PROJ_DATA"] = proj_data


pin_gdal_data_paths()

_in_gaia_read = threading.local()
_reproject_info_unmemoized = odc_rio._reproject_info_from_rio
_REPROJECT_INFO_CACHE_SIZE = 4096
_reproject_infos: dict[tuple[Any, ...], ReprojectInfo] = {}


def _reproject_info(rdr: Any, dst_geobox: GeoBox, ttol: float) -> ReprojectInfo:
    if not getattr(_in_gaia_read, "active", False):
        return _reproject_info_unmemoized(rdr, dst_geobox, ttol)
    # Keyed on shapes, affines and CRS strings: hashing GeoBoxes serializes their CRS to WKT at every lookup.
    key = (
        rdr.shape,
        rdr.transform,
        rdr.crs.to_wkt() if rdr.crs else None,
        tuple(dst_geobox.shape),
        dst_geobox.affine,
        str(dst_geobox.crs),
        ttol,
    )
    info = _reproject_infos.get(key)
    if info is None:
        info = compute_reproject_roi(rio_geobox(rdr), dst_geobox, ttol=ttol)
        if len(_reproject_infos) >= _REPROJECT_INFO_CACHE_SIZE:
            _reproject_infos.clear()
        _reproject_infos[key] = info
    return info


odc_rio._reproject_info_from_rio = _reproject_info


def copy_fuser(dst: np.ndarray, src: np.ndarray) -> None:
    """Fuser of loads whose slices get at most one source: the destination holds only the fill value, so odc's
    default fuser (copy where the destination is nodata) is a plain copy."""
    np.copyto(dst, src)


COPY_FUSER = f"{__name__}.copy_fuser"
_fill_nd_slice_upstream = odc_builder._fill_nd_slice


def _fill_nd_slice(
    srcs: Sequence[RasterReader],
    dst_gbox: GeoBox,
    cfg: RasterLoadParams,
    dst: Any,
    ydim: int = 0,
    selection: Any | None = None,
) -> Any:
    if cfg.fuser_fqn != COPY_FUSER or len(srcs) != 1 or ydim != 0 or not isinstance(dst, np.ndarray) or dst.ndim != 2:
        return _fill_nd_slice_upstream(srcs, dst_gbox, cfg, dst, ydim=ydim, selection=selection)
    roi, _ = srcs[0].read(cfg, dst_gbox, dst=dst, selection=selection)
    if dst[roi].shape != dst.shape:
        # The source covers part of the tile: what lies outside it is nodata, as upstream's prefill makes it.
        inside = dst[roi].copy()
        nodata = resolve_src_nodata(cfg.fill_value, cfg)
        np.copyto(dst, resolve_dst_fill_value(dst.dtype, cfg, nodata))
        dst[roi] = inside
    return dst


odc_builder._fill_nd_slice = _fill_nd_slice


class HrefNamingReader(RioReader):
    def read(
        self,
        cfg: RasterLoadParams,
        dst_geobox: Any,
        *,
        dst: np.ndarray | None = None,
        selection: ReaderSubsetSelection | None = None,
    ) -> tuple[tuple[slice, slice], np.ndarray]:
        _in_gaia_read.active = True
        try:
            pasted = self._paste(cfg, dst_geobox, dst, selection)
            return pasted if pasted is not None else super().read(cfg, dst_geobox, dst=dst, selection=selection)
        except Exception as error:
            failure = self.failure(error)
        finally:
            _in_gaia_read.active = False
        # Raised outside the handler, so that the error has no GDAL exception as its context: dask's workers pickle
        # exceptions with their context and cause (tblib), and rasterio's CPLE errors do not unpickle, which would
        # turn the AssetError into a bare Exception on the client.
        raise failure

    def _paste(
        self, cfg: RasterLoadParams, dst_geobox: GeoBox, dst: np.ndarray | None, selection: Any
    ) -> tuple[tuple[slice, slice], np.ndarray] | None:
        """odc-loader's read of one band whose pixels paste onto ``dst_geobox`` (what ``_do_read`` does on that
        branch), or None for every other case, which odc-loader's own read then handles (warps, overviews, band
        stacks, channel-last outputs, and failures it may be asked to log instead of raising)."""
        src = self._src
        if src.ydim != 0 or (dst is not None and dst.ndim != 2):
            return None
        try:
            with rasterio.open(src.uri, "r", sharing=False) as reader:
                band = resolve_band_query(src, reader.count, selection=selection)
                if not isinstance(band, int):
                    return None
                info = _reproject_info(reader, dst_geobox, 0.9 if cfg.nearest else 0.05)
                if not info.paste_ok or info.read_shrink != 1:
                    return None
                return odc_rio._do_read(rasterio.band(reader, band), cfg, dst_geobox, info, dst=dst)
        except rasterio.errors.RasterioError:
            if cfg.fail_on_error:
                raise
            return None

    def failure(self, error: Exception) -> AssetError:
        """The AssetError (naming the href) that ``error``, raised by a read, becomes."""
        return AssetError(
            self._src.uri,
            f"band {self._src.band}: cannot read ({type(error).__name__}: {error}); "
            "the file may be truncated, corrupt or unreachable",
        )


class HrefNamingDriver(RioDriver):
    """odc-loader's rasterio driver, with read errors re-raised as AssetError naming the href."""

    def open(self, src: RasterSource, ctx: Any) -> RioReader:
        return HrefNamingReader(src, ctx)
