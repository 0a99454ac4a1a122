"""STAC metadata for lake files, read from their headers: proj + raster for COG items, datacube + xarray-assets
for Zarr collections, so that opening needs no pixel read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pystac
import rasterio
import xarray as xr
from rasterio.warp import transform_bounds

PROJ = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"
RASTER = "https://stac-extensions.github.io/raster/v1.1.0/schema.json"
DATACUBE = "https://stac-extensions.github.io/datacube/v2.2.0/schema.json"
XARRAY = "https://stac-extensions.github.io/xarray-assets/v1.0.0/schema.json"
ZARR_MEDIA_TYPE = "application/vnd+zarr"


def _crs_fields(crs: rasterio.crs.CRS) -> dict[str, Any]:
    epsg = crs.to_epsg()
    if epsg:
        return {"proj:code": f"EPSG:{epsg}"}
    return {"proj:code": None, "proj:wkt2": crs.to_wkt()}


def _utc(moment: Any) -> datetime:
    """A timezone-aware datetime from numpy, pandas or cftime values (cftime calendars mapped approximately)."""
    if isinstance(moment, datetime):
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if isinstance(moment, np.datetime64):
        return datetime.fromtimestamp(moment.astype("datetime64[s]").astype("int64"), tz=UTC)
    return datetime(moment.year, moment.month, min(moment.day, 28), moment.hour, tzinfo=UTC)  # cftime


def cog_item(
    item_id: str,
    bands: Mapping[str, Path],
    *,
    start: datetime,
    end: datetime | None = None,
    units: Mapping[str, str] | None = None,
    properties: Mapping[str, Any] | None = None,
) -> pystac.Item:
    """An item whose assets are COGs sharing one grid; geometry and proj come from the first file's header."""
    first = next(iter(bands.values()))
    with rasterio.open(first) as src:
        crs, transform, shape, bounds = src.crs, src.transform, (src.height, src.width), src.bounds
    west, south, east, north = transform_bounds(crs, "EPSG:4326", *bounds, densify_pts=21)
    geometry = {
        "type": "Polygon",
        "coordinates": [[[west, south], [east, south], [east, north], [west, north], [west, south]]],
    }
    props: dict[str, Any] = dict(properties or {})
    if end is not None:
        props.update({"start_datetime": start.isoformat(), "end_datetime": end.isoformat()})
    props.update(_crs_fields(crs))
    props["proj:shape"] = list(shape)
    props["proj:transform"] = list(transform)[:6]
    props["proj:bbox"] = list(bounds)
    item = pystac.Item(item_id, geometry, [west, south, east, north], start, props, stac_extensions=[PROJ, RASTER])
    for band, path in bands.items():
        with rasterio.open(path) as src:
            raster_band: dict[str, Any] = {"data_type": src.dtypes[0], "spatial_resolution": abs(transform.a)}
            if src.nodata is not None:
                raster_band["nodata"] = "nan" if np.isnan(src.nodata) else src.nodata
            if units and band in units:
                raster_band["unit"] = units[band]
        item.add_asset(
            band,
            pystac.Asset(
                str(path),
                title=band,
                media_type=pystac.MediaType.COG,
                roles=["data"],
                extra_fields={"raster:bands": [raster_band]},
            ),
        )
    return item


def collection_for_items(
    collection_id: str,
    items: Sequence[pystac.Item],
    *,
    title: str,
    description: str,
    keywords: list[str],
    licence: str,
    producers: list[pystac.Provider],
    hub: str,
    extra: Mapping[str, Any] | None = None,
) -> pystac.Collection:
    bboxes = np.array([item.bbox for item in items])
    spatial = [
        float(bboxes[:, 0].min()),
        float(bboxes[:, 1].min()),
        float(bboxes[:, 2].max()),
        float(bboxes[:, 3].max()),
    ]
    starts = [_utc(item.common_metadata.start_datetime or item.datetime) for item in items]
    ends = [_utc(item.common_metadata.end_datetime or item.datetime) for item in items]
    collection = pystac.Collection(
        collection_id,
        description,
        pystac.Extent(pystac.SpatialExtent([spatial]), pystac.TemporalExtent([[min(starts), max(ends)]])),
        title=title,
        license=licence,
        keywords=keywords,
        providers=producers,
        extra_fields={"gaia:hub": hub, **(extra or {})},
        stac_extensions=[RASTER],
    )
    first = items[0]
    collection.extra_fields["item_assets"] = {
        key: {
            "type": asset.media_type,
            "roles": asset.roles,
            "title": asset.title,
            "raster:bands": asset.extra_fields.get("raster:bands"),
        }
        for key, asset in first.assets.items()
    }
    collection.stac_extensions.append("https://stac-extensions.github.io/item-assets/v1.0.0/schema.json")
    collection.add_items(items)
    return collection


def _dimension(ds: xr.Dataset, name: str, crs: Any) -> dict[str, Any]:
    values = ds[name].values if name in ds.coords else np.arange(ds.sizes[name])
    kind: dict[str, Any]
    if name in ("longitude", "lon", "x"):
        kind = {"type": "spatial", "axis": "x"}
    elif name in ("latitude", "lat", "y"):
        kind = {"type": "spatial", "axis": "y"}
    elif name == "time":
        times = [_utc(values[0]), _utc(values[-1])]
        return {"type": "temporal", "extent": [t.isoformat().replace("+00:00", "Z") for t in times]}
    else:
        return {"type": "other", "values": [str(v) for v in values[:100]]}
    numeric = np.asarray(values, dtype=float)
    kind["extent"] = [float(numeric.min()), float(numeric.max())]
    if numeric.size > 1:
        kind["step"] = float(np.round(np.median(np.diff(numeric)), 10))
    kind["reference_system"] = crs.to_epsg() or crs.to_wkt() if crs is not None else 4326
    return kind


def _cube_fields(ds: xr.Dataset) -> tuple[dict[str, Any], dict[str, Any]]:
    """The datacube extension's ``cube:dimensions`` and ``cube:variables`` of an open cube."""
    crs = ds.rio.crs
    dims = {str(d): _dimension(ds, str(d), crs) for d in ds.dims}
    variables = {
        str(name): {
            "dimensions": list(map(str, var.dims)),
            "type": "data",
            "unit": var.attrs.get("units"),
            "description": var.attrs.get("long_name") or var.attrs.get("standard_name") or str(name),
        }
        for name, var in ds.data_vars.items()
        if var.ndim > 0
    }
    return dims, variables


def zarr_collection(
    collection_id: str,
    store: Path,
    *,
    zarr_format: int,
    title: str,
    description: str,
    keywords: list[str],
    licence: str,
    producers: list[pystac.Provider],
    hub: str,
    bbox: list[float] | None = None,
) -> pystac.Collection:
    """A collection whose one data asset is the whole Zarr cube, described with the datacube extension."""
    ds = xr.open_zarr(store, consolidated=True, zarr_format=zarr_format, decode_times=True)
    dims, variables = _cube_fields(ds)
    if bbox is None:
        x = next(n for n, d in dims.items() if d.get("axis") == "x")
        y = next(n for n, d in dims.items() if d.get("axis") == "y")
        bbox = [dims[x]["extent"][0], dims[y]["extent"][0], dims[x]["extent"][1], dims[y]["extent"][1]]
    time: list[datetime | None] = [None, None]
    if "time" in ds.dims:
        time = [_utc(ds["time"].values[0]), _utc(ds["time"].values[-1])]
    collection = pystac.Collection(
        collection_id,
        description,
        pystac.Extent(pystac.SpatialExtent([bbox]), pystac.TemporalExtent([time])),
        title=title,
        license=licence,
        keywords=keywords,
        providers=producers,
        extra_fields={"gaia:hub": hub, "cube:dimensions": dims, "cube:variables": variables},
        stac_extensions=[DATACUBE, XARRAY],
    )
    collection.add_asset(
        "zarr",
        pystac.Asset(
            str(store),
            title=f"{title} (Zarr v{zarr_format})",
            media_type=ZARR_MEDIA_TYPE,
            roles=["data", "zarr"],
            extra_fields={"xarray:open_kwargs": {"consolidated": True, "zarr_format": zarr_format}},
        ),
    )
    return collection


TABLE = "https://stac-extensions.github.io/table/v1.2.0/schema.json"
GEOPARQUET_MEDIA_TYPE = "application/vnd.apache.parquet"


def table_collection(
    collection_id: str,
    path: Path,
    *,
    title: str,
    description: str,
    keywords: list[str],
    licence: str,
    producers: list[pystac.Provider],
    hub: str,
    bbox: list[float],
    interval: tuple[datetime | None, datetime | None],
    columns: list[dict[str, Any]],
    rows: int,
    crs: Any,
    extra: Mapping[str, Any] | None = None,
) -> pystac.Collection:
    """A collection whose one data asset is a GeoParquet table, described with the table extension; the
    projection fields on the asset give the geometries' CRS (a code, else WKT2 for local engineering CRSs)."""
    collection = pystac.Collection(
        collection_id,
        description,
        pystac.Extent(pystac.SpatialExtent([bbox]), pystac.TemporalExtent([list(interval)])),
        title=title,
        license=licence,
        keywords=keywords,
        providers=producers,
        extra_fields={
            "gaia:hub": hub,
            "table:columns": columns,
            "table:primary_geometry": "geometry",
            "table:row_count": rows,
            **(extra or {}),
        },
        stac_extensions=[TABLE, PROJ],
    )
    projection = _crs_fields(crs)  # pyproj's CRS answers to_epsg/to_wkt as rasterio's does
    collection.add_asset(
        "data",
        pystac.Asset(
            str(path),
            title=f"{title} (GeoParquet)",
            media_type=GEOPARQUET_MEDIA_TYPE,
            roles=["data"],
            extra_fields={"table:primary_geometry": "geometry", **projection},
        ),
    )
    return collection


NETCDF_MEDIA_TYPE = "application/x-netcdf"


def add_netcdf_asset(collection: pystac.Collection, path: Path, *, title: str) -> pystac.Collection:
    """The same cube as one NetCDF-4 file, the form THREDDS/OPeNDAP servers publish (the lake's OPeNDAP server
    serves it; see gaia_lab.datalake.opendap)."""
    collection.add_asset(
        "netcdf", pystac.Asset(str(path), title=title, media_type=NETCDF_MEDIA_TYPE, roles=["data", "netcdf"])
    )
    return collection


def cube_metadata(ds: xr.Dataset) -> dict[str, Any]:
    """The datacube extension's ``cube:dimensions`` / ``cube:variables``, the bbox and the time interval of an
    open cube (for stores described after they are built, such as virtual Zarr stores)."""
    dims, variables = _cube_fields(ds)
    x = next((n for n, d in dims.items() if d.get("axis") == "x"), None)
    y = next((n for n, d in dims.items() if d.get("axis") == "y"), None)
    bbox = (
        [dims[x]["extent"][0], dims[y]["extent"][0], dims[x]["extent"][1], dims[y]["extent"][1]]
        if x and y
        else [-180.0, -90.0, 180.0, 90.0]
    )
    time: list[datetime | None] = [None, None]
    if "time" in ds.dims:
        time = [_utc(ds["time"].values[0]), _utc(ds["time"].values[-1])]
    return {"cube:dimensions": dims, "cube:variables": variables, "bbox": bbox, "interval": time}
