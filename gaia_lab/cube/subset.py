"""Lazy bbox / datetime / variable selection and reprojection of an opened Dataset (Zarr cubes).

Selection works on coordinates only (index positions), so dask arrays stay lazy.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import rioxarray  # noqa: F401  (registers the .rio accessor)
import xarray as xr
from rasterio.crs import CRS
from rasterio.errors import CRSError
from rasterio.warp import transform_bounds

from gaia_lab.errors import EmptyResult, InvalidQuery
from gaia_lab.query import BBox, CubeRequest, Interval

_LON_NAMES = ("longitude", "lon", "nav_lon", "x")
_LAT_NAMES = ("latitude", "lat", "nav_lat", "y")


def ensure_crs(ds: xr.Dataset) -> xr.Dataset:
    """Give geographic cubes without a grid mapping EPSG:4326, so ``ds.rio.crs`` is always available."""
    try:
        if ds.rio.crs is not None:
            return ds
        x_dim, y_dim = ds.rio.x_dim, ds.rio.y_dim
    except Exception:  # rioxarray raises its own MissingSpatialDimensionError family
        return ds
    if x_dim in ("longitude", "lon") and y_dim in ("latitude", "lat"):
        with_crs: xr.Dataset = ds.rio.write_crs("EPSG:4326")
        return with_crs
    return ds


def select_variables(ds: xr.Dataset, variables: Sequence[str] | None, entry_id: str) -> xr.Dataset:
    if not variables:
        return ds
    missing = [v for v in variables if v not in ds.data_vars]
    if missing:
        raise InvalidQuery(
            "variables", list(variables), f"{missing} not in {entry_id}; available: {sorted(map(str, ds.data_vars))}"
        )
    return ds[list(variables)]


def select_time(ds: xr.Dataset, interval: Interval | None, entry_id: str, time_dim: str = "time") -> xr.Dataset:
    if interval is None or time_dim not in ds.dims:
        return ds
    start, end = interval
    index = ds.indexes.get(time_dim)
    if isinstance(index, pd.DatetimeIndex):
        naive = [None if t is None else pd.Timestamp(t).tz_convert("UTC").tz_localize(None) for t in (start, end)]
        if index.tz is not None:
            naive = [None if t is None else t.tz_localize("UTC") for t in naive]
        selected = ds.sel({time_dim: slice(naive[0], naive[1])})
    elif index is not None and type(index).__name__ == "CFTimeIndex":
        date_type = index.date_type
        bounds = [None if t is None else _cf_moment(date_type, t) for t in (start, end)]
        selected = ds.sel({time_dim: slice(bounds[0], bounds[1])})
    else:
        raise InvalidQuery(
            "datetime", interval, f"{entry_id}: the time axis is not decoded as dates, so it cannot be filtered"
        )
    if selected.sizes[time_dim] == 0:
        first, last = index[0], index[-1]
        raise EmptyResult(entry_id, "datetime", f"{_fmt(interval)} is outside the data's time range {first} .. {last}")
    return selected


def _cf_moment(date_type: Any, moment: dt.datetime) -> Any:
    """A date of a model calendar (360-day, no-leap, ...); days the calendar lacks clamp to its last day."""
    day = moment.day
    while True:
        try:
            return date_type(moment.year, moment.month, day, moment.hour, moment.minute, moment.second)
        except ValueError:
            if day <= 28:
                raise
            day -= 1


def _fmt(interval: Interval) -> str:
    return "/".join(".." if t is None else t.isoformat() for t in interval)


def _axis_mask(values: np.ndarray, low: float, high: float, wrap: bool) -> np.ndarray:
    step = float(np.abs(np.diff(values)).max()) / 2 if values.size > 1 else 0.0
    if wrap:  # a box crossing the antimeridian
        return np.asarray((values >= low - step) | (values <= high + step))
    return np.asarray((values >= low - step) & (values <= high + step))


def select_bbox(ds: xr.Dataset, bbox: BBox | None, entry_id: str) -> xr.Dataset:
    """Keep the pixels whose centres fall in ``bbox`` (WGS84), in the cube's own CRS and grid."""
    if bbox is None:
        return ds
    west, south, east, north = bbox
    try:
        x_dim, y_dim = ds.rio.x_dim, ds.rio.y_dim
        crs = ds.rio.crs
    except Exception:
        return _select_bbox_curvilinear(ds, bbox, entry_id)
    x = np.asarray(ds[x_dim].values, dtype=float)
    y = np.asarray(ds[y_dim].values, dtype=float)
    geographic = crs is None or crs.is_geographic
    if geographic:
        if np.nanmax(x) > 180:  # 0..360 longitudes
            west, east = west % 360, east % 360
        x_mask = _axis_mask(x, west, east, wrap=west > east)
        y_mask = _axis_mask(y, south, north, wrap=False)
    else:
        try:
            xmin, ymin, xmax, ymax = transform_bounds(CRS.from_epsg(4326), crs, *bbox, densify_pts=21)
        except (CRSError, ValueError) as error:
            raise InvalidQuery("bbox", bbox, f"cannot transform to the cube's CRS {crs}: {error}") from None
        x_mask = _axis_mask(x, xmin, xmax, wrap=False)
        y_mask = _axis_mask(y, ymin, ymax, wrap=False)
    if not x_mask.any() or not y_mask.any():
        raise EmptyResult(entry_id, "bbox", f"{bbox} does not intersect the data extent {_extent(ds, x_dim, y_dim)}")
    columns = np.flatnonzero(x_mask)
    if geographic and west > east and _ascending(x):
        return _across_antimeridian(ds.isel({y_dim: np.flatnonzero(y_mask)}), x_dim, x, columns, west)
    return ds.isel({x_dim: columns, y_dim: np.flatnonzero(y_mask)})


def _ascending(values: np.ndarray) -> bool:
    return values.size < 2 or bool(np.all(np.diff(values) > 0))


def _across_antimeridian(ds: xr.Dataset, x_dim: str, x: np.ndarray, columns: np.ndarray, west: float) -> xr.Dataset:
    """The columns of a box crossing the antimeridian on a -180..180 grid, contiguous: the western side first,
    then the eastern one with its longitudes past 180 (as a 0..360 grid has them), not two ends of the globe."""
    step = float(np.abs(np.diff(x)).max()) / 2 if x.size > 1 else 0.0
    eastern_side = x[columns] < west - step
    ordered = np.concatenate([columns[~eastern_side], columns[eastern_side]])
    selected = ds.isel({x_dim: ordered})
    longitudes = np.asarray(selected[x_dim].values, dtype=float)
    shifted = np.where(longitudes < west - step, longitudes + 360.0, longitudes)
    return selected.assign_coords({x_dim: selected[x_dim].copy(data=shifted.astype(selected[x_dim].dtype))})


def _extent(ds: xr.Dataset, x_dim: str, y_dim: str) -> str:
    x, y = ds[x_dim].values, ds[y_dim].values
    return f"({x.min():g}, {y.min():g}, {x.max():g}, {y.max():g}) in {ds.rio.crs or 'unknown CRS'}"


def _select_bbox_curvilinear(ds: xr.Dataset, bbox: BBox, entry_id: str) -> xr.Dataset:
    """Curvilinear grids (2-D latitude/longitude): the index window that holds every cell inside the box."""
    lon_name = next((n for n in _LON_NAMES if n in ds.coords and ds[n].ndim == 2), None)
    lat_name = next((n for n in _LAT_NAMES if n in ds.coords and ds[n].ndim == 2), None)
    if lon_name is None or lat_name is None:
        raise InvalidQuery("bbox", bbox, f"{entry_id} has no spatial coordinates to select on")
    lon = np.asarray(ds[lon_name].values, dtype=float)
    lat = np.asarray(ds[lat_name].values, dtype=float)
    lon = np.where(lon > 180, lon - 360, lon)
    west, south, east, north = bbox
    lon_ok = (lon >= west) | (lon <= east) if west > east else (lon >= west) & (lon <= east)
    inside = lon_ok & (lat >= south) & (lat <= north)
    if not inside.any():
        raise EmptyResult(entry_id, "bbox", f"{bbox} does not intersect the data's cells")
    rows, cols = np.nonzero(inside)
    row_dim, col_dim = ds[lat_name].dims
    window = {row_dim: slice(rows.min(), rows.max() + 1), col_dim: slice(cols.min(), cols.max() + 1)}
    return ds.isel(window)


def reproject(
    ds: xr.Dataset, crs: object | None, resolution: float | None, entry_id: str, resampling: str = "nearest"
) -> xr.Dataset:
    """Lazy reprojection through odc-geo (the engine odc-stac uses)."""
    if crs is None and resolution is None:
        return ds
    import odc.geo.xr  # noqa: F401  (registers the .odc accessor)
    from odc.geo.xr import xr_reproject

    source_crs = ds.rio.crs
    if source_crs is None:
        raise InvalidQuery("crs", crs, f"{entry_id} has no CRS, so it cannot be reprojected")
    ds = ds.odc.assign_crs(source_crs.to_wkt())
    target: Any = crs if crs is not None else source_crs.to_wkt()
    try:
        out: xr.Dataset = xr_reproject(
            ds, target, resolution=resolution if resolution is not None else "auto", resampling=resampling
        )
    except (ValueError, CRSError) as error:
        raise InvalidQuery("crs", crs, f"cannot reproject {entry_id}: {error}") from None
    return out


def apply_query(ds: xr.Dataset, request: CubeRequest, *, entry_id: str) -> xr.Dataset:
    """Variables, then time, then space, then reprojection: the order that keeps every step cheapest."""
    ds = ensure_crs(ds)
    ds = select_variables(ds, request.variables, entry_id)
    ds = select_time(ds, request.datetime, entry_id)
    ds = select_bbox(ds, request.bbox, entry_id)
    return reproject(ds, request.crs, request.resolution, entry_id)
