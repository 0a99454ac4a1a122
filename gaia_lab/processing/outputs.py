"""Writing results (Zarr, COG, GeoParquet, CSV, NetCDF) and the STAC item that describes them.

Items reuse the lake's STAC rules (``gaia_lab.datalake.stac``: datacube fields, projection fields, media types), so
a result opens with ``gl.open_datacube(<item.json>)`` or from a static user catalogue like any lake entry.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pystac
import rioxarray  # noqa: F401  (registers .rio)
import xarray as xr
from rasterio.warp import transform_bounds

import gaia_lab
from gaia_lab.datalake.stac import (
    DATACUBE,
    GEOPARQUET_MEDIA_TYPE,
    NETCDF_MEDIA_TYPE,
    PROJ,
    TABLE,
    XARRAY,
    ZARR_MEDIA_TYPE,
    cube_metadata,
)
from gaia_lab.processing.context import OutputFile, ProcessContext

COG_MEDIA_TYPE = str(pystac.MediaType.COG)
CSV_MEDIA_TYPE = "text/csv"
PROCESSING = "https://stac-extensions.github.io/processing/v1.2.0/schema.json"
ZARR_FORMAT = 3


def clean_encoding(ds: xr.Dataset) -> xr.Dataset:
    """Drop the source store's encodings (chunks, codecs): they do not fit the result's shape."""
    ds = ds.copy()
    for variable in ds.variables.values():
        variable.encoding = {k: v for k, v in variable.encoding.items() if k in ("units", "calendar", "dtype")}
        if variable.dtype.kind == "M" or variable.dtype == object:
            variable.encoding.pop("dtype", None)
    return ds


def write_cog(array: xr.DataArray, path: Path, key: str) -> OutputFile:
    """A COG through GDAL's COG driver (tiled 256, deflate, overviews); the nodata value is the cube's (odc-geo fills
    what a reprojection leaves empty with it), else NaN for float data."""
    tmp = path.with_name(path.name + ".partial.tif")
    nodata = _nodata(array)
    array = array.copy()
    array.encoding = {}  # a Zarr or NetCDF source's _FillValue would clash with the nodata written below
    if nodata is not None:
        array = array.rio.write_nodata(nodata, encoded=False)
    array.rio.to_raster(
        tmp, driver="COG", compress="DEFLATE", blocksize=256, predictor=3 if array.dtype.kind == "f" else 2
    )
    os.replace(tmp, path)
    return OutputFile(path, COG_MEDIA_TYPE, key)


def _nodata(array: xr.DataArray) -> float | None:
    nodata = array.rio.nodata
    if nodata is None and array.dtype.kind == "f":
        return float("nan")
    return None if nodata is None else float(nodata)


def write_netcdf(ds: xr.Dataset, path: Path) -> OutputFile:
    ds = clean_encoding(ds)
    tmp = path.with_name(path.name + ".partial")
    encoding = {str(name): {"zlib": True, "complevel": 4} for name, var in ds.data_vars.items() if var.ndim}
    ds.to_netcdf(tmp, format="NETCDF4", engine="netcdf4", encoding=encoding)
    os.replace(tmp, path)
    return OutputFile(path, NETCDF_MEDIA_TYPE, "netcdf")


def write_csv(table: pd.DataFrame, path: Path) -> OutputFile:
    tmp = path.with_name(path.name + ".partial")
    table.to_csv(tmp, index=False)
    os.replace(tmp, path)
    return OutputFile(path, CSV_MEDIA_TYPE, "csv")


def write_geoparquet(table: Any, path: Path) -> OutputFile:
    """``table`` is a GeoDataFrame."""
    tmp = path.with_name(path.name + ".partial")
    table.to_parquet(tmp, index=False)
    os.replace(tmp, path)
    return OutputFile(path, GEOPARQUET_MEDIA_TYPE, "data")


def _utc(value: Any) -> dt.datetime:
    if isinstance(value, np.datetime64):
        stamp: dt.datetime = pd.Timestamp(value).to_pydatetime()
        return stamp.replace(tzinfo=dt.UTC)
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    # cftime (360-day, noleap calendars): the nearest real date
    return dt.datetime(value.year, value.month, min(value.day, 28), value.hour, value.minute, tzinfo=dt.UTC)


def time_span(ds: xr.Dataset, time_dim: str = "time") -> tuple[dt.datetime, dt.datetime] | None:
    if time_dim not in ds.coords or ds[time_dim].size == 0:
        return None
    values = np.asarray(ds[time_dim].values).ravel()
    return _utc(values.min()), _utc(values.max())


def wgs84_bbox(ds: xr.Dataset) -> list[float]:
    """The cube's footprint in WGS 84 (transformed from its CRS, densified along the edges)."""
    crs = ds.rio.crs
    west, south, east, north = ds.rio.bounds()
    if crs is not None and not crs.is_geographic:
        west, south, east, north = transform_bounds(crs, "EPSG:4326", west, south, east, north, densify_pts=21)
    # pixel edges of a global grid reach past the antimeridian and the poles
    return [max(float(west), -180.0), max(float(south), -90.0), min(float(east), 180.0), min(float(north), 90.0)]


def projection_fields(ds: xr.Dataset) -> dict[str, Any]:
    crs = ds.rio.crs
    if crs is None:
        return {}
    epsg = crs.to_epsg()
    fields: dict[str, Any] = {"proj:code": f"EPSG:{epsg}"} if epsg else {"proj:code": None, "proj:wkt2": crs.to_wkt()}
    fields["proj:shape"] = [int(ds.rio.height), int(ds.rio.width)]
    fields["proj:transform"] = list(ds.rio.transform())[:6]
    fields["proj:bbox"] = list(ds.rio.bounds())
    return fields


def _geometry(bbox: Sequence[float]) -> dict[str, Any]:
    west, south, east, north = bbox
    ring = [[west, south], [east, south], [east, north], [west, north], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def new_item(
    process: str,
    context: ProcessContext,
    *,
    bbox: Sequence[float],
    span: tuple[dt.datetime, dt.datetime] | None,
    title: str,
    lineage: str,
    properties: Mapping[str, Any] | None = None,
    extensions: Sequence[str] = (),
) -> pystac.Item:
    created = dt.datetime.now(dt.UTC)
    item_id = context.item_id or f"{process}-{created.strftime('%Y%m%dT%H%M%S%fZ')}"
    props: dict[str, Any] = {
        "title": title,
        "created": created.isoformat().replace("+00:00", "Z"),
        "processing:lineage": lineage,
        "processing:software": {"gaia-lab": gaia_lab.__version__},
        "gaia:process": process,
        **(properties or {}),
    }
    if span is not None:
        start, end = span
        props["start_datetime"] = start.isoformat().replace("+00:00", "Z")
        props["end_datetime"] = end.isoformat().replace("+00:00", "Z")
    item = pystac.Item(
        item_id,
        _geometry(bbox),
        list(map(float, bbox)),
        span[0] if span is not None else created,
        props,
        stac_extensions=[PROCESSING, *extensions],
    )
    return item


def cube_item(
    process: str,
    context: ProcessContext,
    ds: xr.Dataset,
    files: Sequence[OutputFile],
    *,
    title: str,
    lineage: str,
    span: tuple[dt.datetime, dt.datetime] | None = None,
) -> pystac.Item:
    """An item for a raster cube: WGS 84 footprint, time span, projection and datacube fields, one asset per file."""
    fields = cube_metadata(ds)
    item = new_item(
        process,
        context,
        bbox=wgs84_bbox(ds),
        span=span or time_span(ds),
        title=title,
        lineage=lineage,
        properties={
            "cube:dimensions": fields["cube:dimensions"],
            "cube:variables": fields["cube:variables"],
            **projection_fields(ds),
        },
        extensions=[DATACUBE, PROJ, XARRAY],
    )
    for output in files:
        extra: dict[str, Any] = {}
        roles = ["data"]
        if output.media_type == ZARR_MEDIA_TYPE:
            roles.append("zarr")
            extra["xarray:open_kwargs"] = {"consolidated": True, "zarr_format": ZARR_FORMAT}
        elif output.media_type == COG_MEDIA_TYPE:
            variable = ds[output.key]
            band: dict[str, Any] = {"data_type": str(variable.dtype)}
            nodata = _nodata(variable)
            if nodata is not None:
                band["nodata"] = "nan" if np.isnan(nodata) else nodata
            if "units" in variable.attrs:
                band["unit"] = str(variable.attrs["units"])
            extra["raster:bands"] = [band]
        item.add_asset(
            output.key,
            pystac.Asset(
                str(output.path), title=output.key, media_type=output.media_type, roles=roles, extra_fields=extra
            ),
        )
    return item


def add_assets(item: pystac.Item, files: Sequence[OutputFile], extra: Mapping[str, Any] | None = None) -> None:
    for output in files:
        item.add_asset(
            output.key,
            pystac.Asset(
                str(output.path),
                title=output.key,
                media_type=output.media_type,
                roles=["data"],
                extra_fields=dict(extra or {}) if output.media_type == GEOPARQUET_MEDIA_TYPE else {},
            ),
        )


def save_item(item: pystac.Item, output_dir: Path) -> tuple[dict[str, Any], Path]:
    """Write ``item.json`` next to the files (absolute hrefs); return the item as JSON and its path."""
    path = output_dir / "item.json"
    item.set_self_href(str(path))
    document = item.to_dict(include_self_link=True, transform_hrefs=False)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(json.dumps(document, indent=1, default=str))
    os.replace(tmp, path)
    return document, path


__all__ = [
    "COG_MEDIA_TYPE",
    "CSV_MEDIA_TYPE",
    "GEOPARQUET_MEDIA_TYPE",
    "NETCDF_MEDIA_TYPE",
    "TABLE",
    "ZARR_MEDIA_TYPE",
    "add_assets",
    "cube_item",
    "new_item",
    "save_item",
    "time_span",
    "wgs84_bbox",
    "write_cog",
    "write_csv",
    "write_geoparquet",
    "write_netcdf",
]
