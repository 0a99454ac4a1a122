"""A real-archive-like STAC collection: many UTM zones, two resolutions per item, overlapping tiles, ~100 dates.

The best-case corpus (``cog_corpus``) gives every item the same grid, bbox and one source per time step: the layout
GAIA Lab's fast path was built for. Satellite archives look otherwise, and this corpus copies their shape (the
Sentinel-2 L2A tiling, scaled down so that it fits on a laptop):

- tiles in ``ZONES`` UTM zones (EPSG:326xx), on a 90 km stride with 102.4 km tiles, so neighbours overlap as
  Military Grid tiles do, and tiles of adjacent zones overlap across the zone edge;
- two bands per item at two resolutions, ``fine`` (512 x 512 at 200 m, a "10 m band") and ``coarse`` (256 x 256 at
  400 m, a "20 m band"), each asset with its own ``proj:shape`` / ``proj:transform`` as Earth Search items carry them;
- one item per tile and date, ``DATES`` dates;
- half of the tiles (every other zone) declare no ``proj:transform`` / ``proj:shape``: only ``proj:code`` and a
  WGS84 footprint, as many archives' items do; readers must then take the grid from the files or from a requested
  crs + resolution.

Pixels are real: the demo lake's 5' elevation grid reprojected (bilinear) to every tile and band. A date's files
are hard links to the tile's files, so the corpus costs ``TILES x 2`` files on disk whatever the number of dates,
while every item still has hrefs of its own. Cached under ``benchmarks/.cache`` in a folder keyed by this module's
code, its parameters, the source raster and the writing packages' versions (``cog_corpus.cache_key``).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from pyproj import Transformer
from rasterio.enums import Resampling
from rasterio.transform import from_origin
from rasterio.warp import reproject

from benchmarks.cog_corpus import PROJ, RASTER, _source_path, cache_key, keyed_folder

ZONES = tuple(range(29, 39))  # EPSG:32629 .. 32638: the Atlantic coast to the Caspian, 10 zones
COLUMNS, ROWS = 5, 2  # tiles per zone
STRIDE = 90_000  # m between tile origins; tiles are 102.4 km wide, so neighbours overlap by 12.4 km
FIRST_EASTING, FIRST_NORTHING = 230_000, 5_300_000  # upper-left of a zone's first tile (about 47.8 N)
BANDS = {"fine": (200, 512), "coarse": (400, 256)}  # name: (resolution m, pixels per side)
DATES = 100
FIRST_DAY = datetime(2021, 3, 1, tzinfo=UTC)
REVISIT = timedelta(days=3)
NAME = "archive"


def tiles() -> list[tuple[int, int, int]]:
    """(zone, column, row) of every tile."""
    return [(zone, column, row) for zone in ZONES for column in range(COLUMNS) for row in range(ROWS)]


def _origin(column: int, row: int) -> tuple[float, float]:
    return FIRST_EASTING + column * STRIDE, FIRST_NORTHING - row * STRIDE


def _tile_id(zone: int, column: int, row: int) -> str:
    return f"{zone}T{column}{row}"


def _declares_grid(zone: int) -> bool:
    return zone % 2 == 0


def _write_band(path: Path, source: rasterio.DatasetReader, epsg: int, west: float, north: float, band: str) -> None:
    resolution, size = BANDS[band]
    transform = from_origin(west, north, resolution, resolution)
    data = np.full((size, size), np.nan, dtype="float32")
    reproject(
        source=rasterio.band(source, 1),
        destination=data,
        dst_transform=transform,
        dst_crs=f"EPSG:{epsg}",
        dst_nodata=np.nan,
        resampling=Resampling.bilinear,
    )
    profile = {
        "driver": "COG",
        "dtype": "float32",
        "width": size,
        "height": size,
        "count": 1,
        "crs": f"EPSG:{epsg}",
        "transform": transform,
        "nodata": float("nan"),
        "compress": "deflate",
        "blocksize": 256,
        "overview_resampling": Resampling.average.name,
    }
    partial = path.with_suffix(".part")
    with rasterio.open(partial, "w", **profile) as dst:
        dst.write(data, 1)
    partial.rename(path)


def _footprint(epsg: int, west: float, north: float) -> list[float]:
    """The tile's WGS84 bbox (corners and edge midpoints, so that the box holds the curved UTM square)."""
    span = BANDS["fine"][0] * BANDS["fine"][1]
    to_wgs84 = Transformer.from_crs(f"EPSG:{epsg}", "EPSG:4326", always_xy=True)
    steps = np.linspace(0.0, span, 9)
    xs = np.concatenate([west + steps, west + steps, np.full(9, west), np.full(9, west + span)])
    ys = np.concatenate([np.full(9, north), np.full(9, north - span), north - steps, north - steps])
    lons, lats = to_wgs84.transform(xs, ys)
    return [float(np.min(lons)), float(np.min(lats)), float(np.max(lons)), float(np.max(lats))]


def _item(zone: int, column: int, row: int, date_index: int, hrefs: dict[str, str]) -> dict[str, Any]:
    epsg = 32600 + zone
    west, north = _origin(column, row)
    bbox = _footprint(epsg, west, north)
    tile = _tile_id(zone, column, row)
    day = FIRST_DAY + date_index * REVISIT
    assets: dict[str, Any] = {}
    for band, (resolution, size) in BANDS.items():
        asset: dict[str, Any] = {
            "href": hrefs[band],
            "type": "image/tiff; application=geotiff; profile=cloud-optimized",
            "roles": ["data"],
            "raster:bands": [{"data_type": "float32", "nodata": "nan", "unit": "m", "spatial_resolution": resolution}],
        }
        if _declares_grid(zone):
            asset["proj:shape"] = [size, size]
            asset["proj:transform"] = [resolution, 0.0, west, 0.0, -resolution, north, 0.0, 0.0, 1.0]
        assets[band] = asset
    west_lon, south, east_lon, north_lat = bbox
    return {
        "type": "Feature",
        "stac_version": "1.1.0",
        "stac_extensions": [PROJ, RASTER],
        "id": f"{NAME}-{tile}-{day:%Y%m%d}",
        "collection": NAME,
        "geometry": {
            "type": "Polygon",
            "coordinates": [
                [[west_lon, south], [east_lon, south], [east_lon, north_lat], [west_lon, north_lat], [west_lon, south]]
            ],
        },
        "bbox": bbox,
        "properties": {"datetime": day.strftime("%Y-%m-%dT%H:%M:%SZ"), "proj:code": f"EPSG:{epsg}", "tile": tile},
        "links": [],
        "assets": assets,
    }


def collection(lake: Path, dates: int = DATES) -> Path:
    """The static STAC catalog of ``len(tiles()) x dates`` items; returns its catalog.json path (cached)."""
    parameters = (ZONES, COLUMNS, ROWS, STRIDE, FIRST_EASTING, FIRST_NORTHING, BANDS, dates, FIRST_DAY.isoformat())
    root = keyed_folder(f"{NAME}-{dates}", cache_key(lake, *parameters, code=(Path(__file__),)))
    catalog_path = root / "catalog.json"
    if catalog_path.exists():
        return catalog_path
    partial = root.with_name(root.name + ".part")
    if partial.exists():
        for path in sorted(partial.rglob("*"), reverse=True):
            path.unlink() if not path.is_dir() or path.is_symlink() else path.rmdir()
    files = partial / "files"
    files.mkdir(parents=True)
    with rasterio.open(_source_path(lake)) as source:
        for zone, column, row in tiles():
            west, north = _origin(column, row)
            for band in BANDS:
                _write_band(
                    files / f"{_tile_id(zone, column, row)}-{band}.tif", source, 32600 + zone, west, north, band
                )
    item_links = []
    bboxes = []
    for date_index in range(dates):
        day_dir = partial / "data" / f"{(FIRST_DAY + date_index * REVISIT):%Y%m%d}"
        day_dir.mkdir(parents=True)
        for zone, column, row in tiles():
            tile = _tile_id(zone, column, row)
            hrefs = {}
            for band in BANDS:
                link = day_dir / f"{tile}-{band}.tif"
                os.link(files / f"{tile}-{band}.tif", link)
                hrefs[band] = f"../../data/{day_dir.name}/{link.name}"
            item = _item(zone, column, row, date_index, hrefs)
            item["links"] = [
                {"rel": "root", "href": "../../catalog.json", "type": "application/json"},
                {"rel": "parent", "href": "../collection.json", "type": "application/json"},
                {"rel": "collection", "href": "../collection.json", "type": "application/json"},
            ]
            item_dir = partial / NAME / item["id"]
            item_dir.mkdir(parents=True)
            (item_dir / f"{item['id']}.json").write_text(json.dumps(item))
            item_links.append({"rel": "item", "href": f"./{item['id']}/{item['id']}.json", "type": "application/json"})
            if date_index == 0:
                bboxes.append(item["bbox"])
    union = [min(b[0] for b in bboxes), min(b[1] for b in bboxes), max(b[2] for b in bboxes), max(b[3] for b in bboxes)]
    last_day = FIRST_DAY + (dates - 1) * REVISIT
    collection_doc = {
        "type": "Collection",
        "stac_version": "1.1.0",
        "stac_extensions": [],
        "id": NAME,
        "title": f"Benchmark: a tiled archive, {len(tiles())} tiles in {len(ZONES)} UTM zones x {dates} dates",
        "description": "Overlapping UTM tiles with a 200 m and a 400 m band, cut from the demo lake's elevation.",
        "license": "other",
        "extent": {
            "spatial": {"bbox": [union]},
            "temporal": {"interval": [[FIRST_DAY.isoformat(), last_day.isoformat()]]},
        },
        "links": [
            {"rel": "root", "href": "../catalog.json", "type": "application/json"},
            {"rel": "parent", "href": "../catalog.json", "type": "application/json"},
            *item_links,
        ],
    }
    (partial / NAME / "collection.json").write_text(json.dumps(collection_doc))
    (partial / "catalog.json").write_text(
        json.dumps(
            {
                "type": "Catalog",
                "stac_version": "1.1.0",
                "id": f"bench-{NAME}",
                "description": "GAIA Lab benchmark catalogue: a tiled archive",
                "links": [
                    {"rel": "root", "href": "./catalog.json", "type": "application/json"},
                    {"rel": "child", "href": f"./{NAME}/collection.json", "type": "application/json"},
                ],
            }
        )
    )
    partial.rename(root)
    return catalog_path
