"""Raster assets (Cloud-Optimized GeoTIFF, GeoTIFF, JPEG2000) -> lazy (time, y, x) cubes.

Many items become one cube per band on a common grid through odc-stac and odc-loader (``stac_load``); a lone
GeoTIFF opens with rioxarray. Everything that can be wrong with a request or with the items' metadata is found here,
before odc-stac runs, so that the error names its real cause (a band, an item, a parameter).
Tiles are read by ``gaia_lab.cube.reads`` (odc-loader's reader, errors naming the href, cheaper per-file path), or,
if asked, by ``gaia_lab.cube.async_tiff_reads`` (Rust decoding where it gives the same pixels).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import rioxarray
import xarray as xr
from odc.geo import geom
from odc.stac import extract_collection_metadata
from pyproj import CRS

from gaia_lab.cube import s3, stac_load
from gaia_lab.cube.async_tiff_reads import AsyncTiffDriver, configured_reader
from gaia_lab.cube.reads import HrefNamingDriver
from gaia_lab.errors import AssetError, EmptyResult, InvalidQuery
from gaia_lab.query import BBox, CubeRequest
from gaia_lab.stac_item import RASTER_FORMATS, StacItem, asset_format, band_count, is_data

SPATIAL_CHUNK = 2048
CHUNK_BYTES = 16 * 2**20
TIME_CHUNK_MAX = 64
_SHOWN_IDS = 5


@dataclass(frozen=True)
class Band:
    """A variable of the cube: ``name`` in the cube, read from asset ``key`` (``key.N`` names band N of an asset
    with several bands, as odc-stac names them)."""

    name: str
    key: str


def _ids(items: Sequence[StacItem]) -> str:
    shown = ", ".join(item.id for item in items[:_SHOWN_IDS])
    return shown + (f", ... ({len(items) - _SHOWN_IDS} more)" if len(items) > _SHOWN_IDS else "")


def _bands_of(key: str, item: StacItem) -> list[Band]:
    """The variables of an asset: its key, or odc-stac's names for each band of a multi-band asset (an alias from
    ``eo:bands``, else ``key.N``)."""
    if band_count(item.assets[key]) == 1:
        return [Band(key, key)]
    metadata = extract_collection_metadata(item.to_pystac(assets=[key]))
    return [
        Band(name, key)
        for band_key, name in zip(metadata.meta.bands, metadata.all_bands, strict=True)
        if band_key[0] == key
    ]


def _unreadable(key: str, asset: Mapping[str, Any], entry_id: str) -> AssetError:
    return AssetError(
        str(asset.get("href", key)),
        f"asset {key!r}: unsupported media type {asset.get('type')!r} for a raster cube "
        "(GAIA Lab reads GeoTIFF/COG and JPEG2000 tiles, and Zarr stores)",
        entry_id=entry_id,
    )


def select_bands(items: Sequence[StacItem], variables: Sequence[str] | None, entry_id: str) -> list[Band]:
    """The cube's variables, in the order asked for.

    Named variables may be any raster asset, whatever its roles (a Landsat ``qa_pixel`` is a ``cloud`` asset).
    Without names, every data asset (role ``data`` or none) in a raster format, as first seen across the items.
    An asset that only some items carry is read where it exists and is no data elsewhere, as odc-stac reads it.
    """
    first_seen: dict[str, Mapping[str, Any]] = {}
    carrier: dict[str, StacItem] = {}
    for item in items:
        for key, asset in item.assets.items():
            if key not in first_seen:
                first_seen[key], carrier[key] = asset, item
    raster = {k: a for k, a in first_seen.items() if asset_format(a) in RASTER_FORMATS}
    if variables:
        selected: list[Band] = []
        missing = []
        for name in variables:
            if name in first_seen:
                if name not in raster:
                    raise _unreadable(name, first_seen[name], entry_id)
                selected.extend(_bands_of(name, carrier[name]))
                continue
            key, _, number = name.rpartition(".")
            if key in raster and number.isdigit() and 1 <= int(number) <= band_count(raster[key]):
                selected.append(Band(name, key))
                continue
            # A band of a multi-band asset, by the name odc-stac gives it (an eo:bands name or common name)
            band = next(
                (
                    b
                    for key in raster
                    if band_count(raster[key]) > 1
                    for b in _bands_of(key, carrier[key])
                    if b.name == name
                ),
                None,
            )
            if band is None:
                missing.append(name)
            else:
                selected.append(band)
        if missing:
            available = [band.name for key in raster for band in _bands_of(key, carrier[key])]
            raise InvalidQuery(
                "variables",
                list(variables),
                f"{missing} not in {entry_id} (in none of the {len(items)} item(s) the request selects); "
                f"available: {available}",
            )
        return list({band.name: band for band in selected}.values())
    selected = [band for key, asset in raster.items() if is_data(asset) for band in _bands_of(key, carrier[key])]
    if not selected:
        data = {k: a for k, a in first_seen.items() if is_data(a)}
        if data:
            key, asset = next(iter(data.items()))
            raise _unreadable(key, asset, entry_id)
        raise AssetError(
            entry_id,
            f"no data asset to open; assets: {sorted(first_seen)}; name the ones to open with variables=",
            entry_id=entry_id,
        )
    return selected


def check_footprints(items: Sequence[StacItem], bands: Sequence[Band], entry_id: str) -> None:
    """Every asset must be placeable without reading it: from its grid (projection extension), else from its
    item's footprint, on an output grid the request or other items fix."""
    keys = list(dict.fromkeys(band.key for band in bands))
    for item in items:
        if item.bbox is not None or item.document.get("geometry"):
            continue
        for key in keys:
            asset = item.assets.get(key)
            if asset is not None and item.grids[key] is None:
                raise AssetError(
                    str(asset.get("href", key)),
                    f"item {item.id!r} has neither projection metadata (proj:code/proj:epsg, proj:shape, "
                    "proj:transform) nor a footprint: nothing tells where its pixels lie without reading the file",
                    entry_id=entry_id,
                )


def _no_output_grid(
    items: Sequence[StacItem], bands: Sequence[Band], request: CubeRequest, entry_id: str
) -> InvalidQuery:
    """The error for items none of which gives a grid, when the request does not give one either."""
    keys = list(dict.fromkeys(band.key for band in bands))
    lacking = [item for item in items if any(k in item.assets and item.grids[k] is None for k in keys)]
    parameter = "crs" if request.crs is None else "resolution"
    return InvalidQuery(
        parameter,
        getattr(request, parameter),
        f"{len(lacking)} of {len(items)} items of {entry_id} ({_ids(lacking)}) lack projection metadata for "
        f"{keys} (proj:code/proj:epsg, proj:shape and proj:transform), so no item gives the output grid: "
        "pass crs= and resolution= to place them by their footprints",
    )


def _output_crs(items: Sequence[StacItem], bands: Sequence[Band], request: CubeRequest) -> str:
    """The CRS the cube will have: the request's; else, as odc-stac chooses, the CRS of the commonest grid among
    the items' first requested bands; WGS84 (the CRS of footprints) when items are placed by footprint."""
    if request.crs is not None:
        return request.crs
    keys = list(dict.fromkeys(band.key for band in bands))
    if stac_load.placed_by_footprint(items, keys):
        return "EPSG:4326"
    counts: Counter[tuple[str, float, float]] = Counter()
    for item in items:
        grid = next((item.grids[k] for k in keys if k in item.assets), None)
        if grid is not None:
            counts[(grid.crs, grid.transform[0], grid.transform[4])] += 1
    return counts.most_common(1)[0][0][0] if counts else "EPSG:4326"


def _covered(part: BBox, footprints: Sequence[BBox]) -> BBox | None:
    """The smallest box holding what the footprints cover of ``part`` (a box that does not cross the
    antimeridian); ``None`` when they miss it."""
    pieces = [
        (max(part.west, f.west), max(part.south, f.south), min(part.east, f.east), min(part.north, f.north))
        for f in footprints
        if f.west < part.east and part.west < f.east and f.south < part.north and part.south < f.north
    ]
    if not pieces:
        return None
    return BBox(
        min(p[0] for p in pieces), min(p[1] for p in pieces), max(p[2] for p in pieces), max(p[3] for p in pieces)
    )


def query_area(items: Sequence[StacItem], bands: Sequence[Band], request: CubeRequest, entry_id: str) -> dict[str, Any]:
    """odc-stac's area argument for the request's bbox: the parts of the box the items cover (odc-stac makes the
    grid of the box itself, so a box larger than the data would give a cube of mostly no data).

    A box crossing the antimeridian is two boxes; on a projected grid their union is one contiguous area, which
    odc-stac takes as a ``geopolygon``. On a geographic grid the two sides lie 360 degrees apart: refused, rather
    than a cube around the whole globe."""
    bbox = request.bbox
    if bbox is None:
        return {}
    parts = bbox.parts()
    boxes = [item.bbox for item in items]
    if all(box is not None for box in boxes):  # an item without a footprint may lie anywhere in the box
        footprints = [part for box in boxes if box is not None for part in box.parts()]
        parts = [covered for part in parts if (covered := _covered(part, footprints)) is not None] or parts
    if len(parts) == 1:
        return {"bbox": tuple(parts[0])}
    crs = _output_crs(items, bands, request)
    if CRS.from_user_input(crs).is_geographic:
        raise InvalidQuery(
            "bbox",
            tuple(bbox),
            f"west > east: the box crosses the antimeridian (STAC and OGC semantics) and {entry_id}'s data lie on "
            f"both sides of it, which a cube in the geographic CRS {crs} cannot hold contiguously; pass a projected "
            "crs= that covers both sides (a UTM zone 1 or 60, EPSG:3832 for the Pacific, EPSG:3031/3413 near the "
            f"poles) or split the box at 180 degrees (if you meant the box from {bbox.east:g} to {bbox.west:g}, swap "
            "west and east)",
        )
    return {"geopolygon": geom.multigeom([geom.box(*p, "EPSG:4326") for p in parts])}


def _nodata_and_type(asset: Mapping[str, Any]) -> tuple[Any, str | None]:
    bands = asset.get("raster:bands") or asset.get("bands") or [{}]
    first = bands[0] if bands else {}
    nodata = first.get("nodata", asset.get("nodata"))
    data_type = first.get("data_type", asset.get("data_type"))
    return nodata, data_type


def default_chunks(items: Sequence[StacItem], keys: Sequence[str], dtype_size: int) -> dict[str, int]:
    """2048-pixel tiles, and as many time steps per chunk as keep a chunk near 16 MiB: a time series of small
    tiles then reads several files per task instead of paying dask's per-task cost for each."""
    shapes = [
        tuple(item.proj(asset).get("proj:shape") or ())
        for item in items[:1]
        for key, asset in item.assets.items()
        if key in keys
    ]
    rows, cols = max((s for s in shapes if len(s) == 2), default=(SPATIAL_CHUNK, SPATIAL_CHUNK))
    pixels = min(rows, SPATIAL_CHUNK) * min(cols, SPATIAL_CHUNK)
    steps = max(1, min(TIME_CHUNK_MAX, CHUNK_BYTES // max(1, pixels * dtype_size)))
    return {"time": steps, "y": SPATIAL_CHUNK, "x": SPATIAL_CHUNK}


def tile_driver(request: CubeRequest) -> HrefNamingDriver:
    """odc-loader's driver for the reader the request names (or the configured one): GDAL, or async-tiff where it
    reads the same pixels (``gaia_lab.cube.async_tiff_reads``)."""
    if configured_reader(request.reader) == "async-tiff":
        return AsyncTiffDriver()
    return HrefNamingDriver()


def open_raster_items(
    items: Sequence[StacItem],
    request: CubeRequest,
    *,
    entry_id: str,
    resampling: str = "nearest",
    storage_options: Mapping[str, Any] | None = None,
    provider: str | None = None,
) -> tuple[xr.Dataset, list[str]]:
    """One lazy cube from many raster items (odc-stac/odc-loader, parsed once per grid), with the asset keys it
    reads; no data becomes NaN. ``s3://`` hrefs read with the credentials in ``storage_options`` (by reference,
    see ``gaia_lab.cube.s3``)."""
    bands = select_bands(items, request.variables, entry_id)
    check_footprints(items, bands, entry_id)
    keys = list(dict.fromkeys(band.key for band in bands))
    by_footprint = stac_load.placed_by_footprint(items, keys)
    if by_footprint and (request.crs is None or request.resolution is None):
        raise _no_output_grid(items, bands, request, entry_id)  # no grid from the items: the request must give it
    area = query_area(items, bands, request, entry_id)
    first_assets = {key: next(i.assets[key] for i in items if key in i.assets) for key in keys}
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
    if request.chunks is not None:
        load_chunks = dict(request.chunks)
    else:
        load_chunks = default_chunks(items, keys, 4 if needs_float else max(sizes, default=4))
    names = [band.name for band in bands]
    driver = tile_driver(request)
    if any(s3.is_s3(str(a.get("href", ""))) for a in first_assets.values()):
        # GDAL's S3 access with the provider's credentials, whichever reader was asked for
        driver = s3.CredentialedDriver(s3.register(storage_options, provider or entry_id.split("/", 1)[0]))
    try:
        ds = stac_load.load(
            items,
            names,
            asset_keys=keys,
            by_footprint=by_footprint,
            chunks=load_chunks,
            driver=driver,
            dtype=dtype,
            resampling=resampling,
            crs=request.crs,
            resolution=request.resolution,
            fail_on_error=True,
            **area,
        )
    except stac_load.NoOutputGrid:
        raise _no_output_grid(items, bands, request, entry_id) from None
    except stac_load.EmptyArea:
        raise EmptyResult(entry_id, "bbox", f"{request.bbox} covers no pixel of the items' grids") from None
    except (AssetError, InvalidQuery):
        raise
    except Exception as error:
        raise AssetError(
            entry_id,
            f"odc-stac cannot build the cube from these items' metadata: {type(error).__name__}: {error}",
            entry_id=entry_id,
        ) from None
    for band in bands:
        nodata, _ = _nodata_and_type(first_assets[band.key])
        if nodata is not None and str(nodata).lower() != "nan" and ds[band.name].dtype.kind == "f":
            # odc-loader keeps the source sentinel when casting to float; the cube promises NaN for no data.
            attrs = {k: v for k, v in ds[band.name].attrs.items() if k != "nodata"}
            ds[band.name] = ds[band.name].where(ds[band.name] != float(nodata)).assign_attrs(attrs)
        lacking = [item for item in items if band.key not in item.assets]
        if lacking:
            # Read as no data there, as odc-stac reads them; said on the variable, so that nobody takes the gap for
            # a measurement.
            ds[band.name].attrs["gaia:items_without"] = f"{len(lacking)} of {len(items)}: {_ids(lacking)}"
    ds = ds[names]
    return (ds.rio.write_crs(ds.odc.crs.to_wkt()) if ds.rio.crs is None else ds), keys


def open_geotiff(
    href: str,
    *,
    entry_id: str,
    chunks: Mapping[str, int] | None = None,
    band_names: Sequence[str] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    provider: str | None = None,
) -> xr.Dataset:
    """A lone GeoTIFF without STAC metadata: rioxarray, masked, one variable per band. An ``s3://`` href reads with
    the credentials in ``storage_options``, by reference (``gaia_lab.cube.s3_raster``); a refusal is an AssetError
    naming the bucket and ``provider``."""
    dask_chunks = dict(chunks) if chunks else {"x": SPATIAL_CHUNK, "y": SPATIAL_CHUNK}
    if s3.is_s3(href):
        from gaia_lab.cube.s3_raster import open_s3_geotiff

        ref = s3.register(storage_options, provider or entry_id.split("/", 1)[0])
        names = list(band_names) if band_names else None
        return open_s3_geotiff(href, ref, entry_id=entry_id, chunks=dask_chunks, names=names)
    try:
        array = rioxarray.open_rasterio(href, chunks=dask_chunks, lock=False, masked=True)
    except Exception as error:
        raise AssetError(
            href, f"cannot open as a GeoTIFF: {type(error).__name__}: {error}", entry_id=entry_id
        ) from None
    assert isinstance(array, xr.DataArray)
    names = list(band_names) if band_names else [f"band_{int(b)}" for b in array["band"].values]
    if len(names) != array.sizes["band"]:
        raise AssetError(href, f"{array.sizes['band']} bands, but {len(names)} names given", entry_id=entry_id)
    return xr.Dataset({name: array.isel(band=i, drop=True) for i, name in enumerate(names)})
