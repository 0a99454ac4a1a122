"""Cloud-Optimized GeoTIFF assets -> lazy (time, y, x) cubes.

Many items become one cube per band on a common grid through odc-stac and odc-loader (``stac_load``); a lone
GeoTIFF opens with rioxarray.
Tiles are read by ``gaia_lab.cube.reads`` (odc-loader's reader, errors naming the href, cheaper per-file path).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import rioxarray
import xarray as xr

from gaia_lab.cube import stac_load
from gaia_lab.cube.reads import HrefNamingDriver
from gaia_lab.cube.records import ItemRecord, is_geotiff
from gaia_lab.errors import AssetError, InvalidQuery

SPATIAL_CHUNK = 2048
CHUNK_BYTES = 16 * 2**20
TIME_CHUNK_MAX = 64


def _nodata_and_type(asset: Mapping[str, Any]) -> tuple[Any, str | None]:
    bands = asset.get("raster:bands") or asset.get("bands") or [{}]
    first = bands[0] if bands else {}
    nodata = first.get("nodata", asset.get("nodata"))
    data_type = first.get("data_type", asset.get("data_type"))
    return nodata, data_type


def check_cog_items(items: Sequence[ItemRecord], bands: Sequence[str] | None, entry_id: str) -> list[str]:
    """The bands to load; every asset must be a GeoTIFF with enough proj metadata to open without a pixel read."""
    available: dict[str, None] = {}
    for item in items:
        for key, asset in item.data_assets().items():
            if bands and key not in bands:
                continue
            href = str(asset.get("href", ""))
            if not is_geotiff(asset):
                raise AssetError(
                    href,
                    f"unsupported media type {asset.get('type')!r} for a raster cube (expected a GeoTIFF/COG)",
                    entry_id=entry_id,
                )
            if not item.has_proj(asset):
                raise AssetError(
                    href,
                    f"item {item.id!r} lacks projection metadata (proj:code/proj:wkt2, proj:shape, proj:transform): "
                    "opening would have to read the file; add the proj extension to the catalogue",
                    entry_id=entry_id,
                )
            available[key] = None
    if bands:
        missing = [b for b in bands if b not in available]
        if missing:
            every = sorted({k for item in items for k in item.data_assets()})
            raise InvalidQuery("variables", list(bands), f"{missing} not in {entry_id}; available: {every}")
    if not available:
        raise AssetError(entry_id, "no data asset to open", entry_id=entry_id)
    return list(available)


def _clip_to_items(
    bbox: tuple[float, float, float, float], items: Sequence[ItemRecord]
) -> tuple[float, float, float, float]:
    """The part of ``bbox`` the items cover: odc-stac makes the grid of the bbox itself, so a box larger than the
    data would give a cube of mostly NaN."""
    footprints = [item.bbox for item in items if item.bbox]
    west, south, east, north = bbox
    if not footprints or west > east:  # antimeridian-crossing boxes are left to odc-stac
        return bbox
    clipped = (
        max(west, min(f[0] for f in footprints)),
        max(south, min(f[1] for f in footprints)),
        min(east, max(f[-2] for f in footprints)),
        min(north, max(f[-1] for f in footprints)),
    )
    return clipped if clipped[0] < clipped[2] and clipped[1] < clipped[3] else bbox


def default_chunks(items: Sequence[ItemRecord], bands: Sequence[str], dtype_size: int) -> dict[str, int]:
    """2048-pixel tiles, and as many time steps per chunk as keep a chunk near 16 MiB: a time series of small
    tiles then reads several files per task instead of paying dask's per-task cost for each."""
    shapes = [
        tuple(item.proj(asset).get("proj:shape") or ())
        for item in items[:1]
        for key, asset in item.data_assets().items()
        if key in bands
    ]
    rows, cols = max((s for s in shapes if len(s) == 2), default=(SPATIAL_CHUNK, SPATIAL_CHUNK))
    pixels = min(rows, SPATIAL_CHUNK) * min(cols, SPATIAL_CHUNK)
    steps = max(1, min(TIME_CHUNK_MAX, CHUNK_BYTES // max(1, pixels * dtype_size)))
    return {"time": steps, "y": SPATIAL_CHUNK, "x": SPATIAL_CHUNK}


def open_cog_items(
    items: Sequence[ItemRecord],
    *,
    entry_id: str,
    bands: Sequence[str] | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    crs: object | None = None,
    resolution: float | None = None,
    chunks: Mapping[str, int] | None = None,
    resampling: str = "nearest",
) -> xr.Dataset:
    """One lazy cube from many COG items (odc-stac/odc-loader, parsed once per grid); nodata becomes NaN."""
    selected = check_cog_items(items, bands, entry_id)
    first_assets = {k: a for item in items for k, a in item.data_assets().items() if k in selected}
    needs_float = False
    sizes = []
    for asset in first_assets.values():
        nodata, data_type = _nodata_and_type(asset)
        if nodata is not None and not str(data_type or "").startswith("float"):
            needs_float = True  # integer bands with a nodata sentinel: NaN needs a float
        try:
            sizes.append(np.dtype(data_type or "float32").itemsize)
        except TypeError:
            sizes.append(4)
    # One dtype for all bands: odc-loader 0.6 hands a per-band dtype mapping to np.dtype when chunking.
    dtype = "float32" if needs_float else None
    if chunks:
        load_chunks = dict(chunks)
    else:
        load_chunks = default_chunks(items, selected, 4 if needs_float else max(sizes, default=4))
    try:
        ds = stac_load.load(
            items,
            selected,
            chunks=load_chunks,
            driver=HrefNamingDriver(),
            dtype=dtype,
            resampling=resampling,
            crs=crs,
            resolution=resolution,
            bbox=_clip_to_items(bbox, items) if bbox is not None else None,
            fail_on_error=True,
        )
    except (AssetError, InvalidQuery):
        raise
    except Exception as error:
        given = {"crs": crs, "resolution": resolution, "bbox": bbox}
        param = next((name for name, value in given.items() if value is not None), None)
        reason = f"odc-stac cannot build the cube for {entry_id}: {type(error).__name__}: {error}"
        if param is None:
            raise AssetError(entry_id, reason, entry_id=entry_id) from None
        raise InvalidQuery(param, given[param], reason) from None
    for key in selected:
        nodata, _ = _nodata_and_type(first_assets[key])
        if nodata is not None and str(nodata).lower() != "nan" and ds[key].dtype.kind == "f":
            # odc-loader keeps the source sentinel when casting to float; the cube promises NaN for no data.
            attrs = {k: v for k, v in ds[key].attrs.items() if k != "nodata"}
            ds[key] = ds[key].where(ds[key] != float(nodata)).assign_attrs(attrs)
    return ds.rio.write_crs(ds.odc.crs.to_wkt()) if ds.rio.crs is None else ds


def open_geotiff(
    href: str, *, entry_id: str, chunks: Mapping[str, int] | None = None, band_names: Sequence[str] | None = None
) -> xr.Dataset:
    """A lone GeoTIFF without STAC metadata: rioxarray, masked, one variable per band."""
    try:
        array = rioxarray.open_rasterio(
            href, chunks=dict(chunks) if chunks else {"x": 2048, "y": 2048}, lock=False, masked=True
        )
    except Exception as error:
        raise AssetError(
            href, f"cannot open as a GeoTIFF: {type(error).__name__}: {error}", entry_id=entry_id
        ) from None
    assert isinstance(array, xr.DataArray)
    names = list(band_names) if band_names else [f"band_{int(b)}" for b in array["band"].values]
    if len(names) != array.sizes["band"]:
        raise AssetError(href, f"{array.sizes['band']} bands, but {len(names)} names given", entry_id=entry_id)
    return xr.Dataset({name: array.isel(band=i, drop=True) for i, name in enumerate(names)})
