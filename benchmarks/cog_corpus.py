"""A STAC collection of many Cloud-Optimized GeoTIFF items, cut from a real raster of the demo lake.

Each file is a distinct 512x512 window of the lake's global 5' elevation grid (pvlib's Altitude.h5), written as a
float32, deflate-compressed COG with 256x256 tiles, one overview and NaN as nodata. Every item declares the same
grid (one tile over western Europe) and its own day, so the items stack into a (time, y, x) series the way a
satellite product's tile does. Items carry the proj and raster extensions: opening needs no pixel read.

Files are shared between items when a collection has more items than files (the hrefs stay distinct through
symbolic links), so 10,000 items cost 1,000 files on disk. Everything is cached under ``benchmarks/.cache``, in
folders named by a hash of what made them (``cache_key``): this module's code, the parameters, the source raster's
bytes and the versions of the packages that write the files. Editing the generator, upgrading rasterio/GDAL or
rebuilding the lake with other data makes a new folder; folders of older keys are removed.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import rasterio
from rasterio.enums import Resampling
from rasterio.transform import from_origin
from rasterio.windows import Window

CACHE = Path(__file__).parent / ".cache"
SIZE = 512
RESOLUTION = 1 / 12  # the source grid's 5 arc-minutes
WEST, NORTH = -10.0, 72.0
CRS = "EPSG:4326"
FIRST_DAY = datetime(2020, 1, 1, tzinfo=UTC)
PROJ = "https://stac-extensions.github.io/projection/v2.0.0/schema.json"
RASTER = "https://stac-extensions.github.io/raster/v1.1.0/schema.json"


def _source_path(lake: Path) -> Path:
    return lake / "formater" / "elevation-5min" / "elevation-5min" / "elevation.tif"


@cache
def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cache_key(lake: Path, *parameters: object, code: tuple[Path, ...] = (), packages: tuple[str, ...] = ()) -> str:
    """A short hash of everything that decides a cached folder's content: this generator's code (and ``code``, the
    files of a derived generator), its ``parameters``, the source raster's bytes, and the versions of the packages
    that write the files (rasterio and the GDAL it bundles, numpy, and ``packages``)."""
    digest = hashlib.sha256()
    for path in (Path(__file__), *code):
        digest.update(path.read_bytes())
    digest.update(_file_digest(_source_path(lake)).encode())
    for package in ("numpy", "rasterio", *packages):
        digest.update(f"{package}={version(package)};".encode())
    digest.update(f"gdal={rasterio.__gdal_version__};{parameters!r}".encode())
    return digest.hexdigest()[:12]


def keyed_folder(name: str, key: str) -> Path:
    """``.cache/<name>-<key>``; older folders of the same name (other keys) are removed: they are stale."""
    CACHE.mkdir(parents=True, exist_ok=True)
    for old in CACHE.glob(f"{name}-*"):
        suffix = old.name[len(name) + 1 :]
        if old.is_dir() and suffix != key and len(suffix) == len(key) and all(c in "0123456789abcdef" for c in suffix):
            shutil.rmtree(old)
    return CACHE / f"{name}-{key}"


def _source(lake: Path) -> np.ndarray:
    with rasterio.open(_source_path(lake)) as src:
        data = src.read(1).astype("float32")
        data[data == src.nodata] = np.nan
    return data


def _write_cog(path: Path, data: np.ndarray) -> None:
    profile = {
        "driver": "COG",
        "dtype": "float32",
        "width": SIZE,
        "height": SIZE,
        "count": 1,
        "crs": CRS,
        "transform": from_origin(WEST, NORTH, RESOLUTION, RESOLUTION),
        "nodata": float("nan"),
        "compress": "deflate",
        "blocksize": 256,
        "overview_resampling": Resampling.average.name,
    }
    partial = path.with_suffix(".part")
    with rasterio.open(partial, "w", **profile) as dst:
        dst.write(data, 1)
    partial.rename(path)


def cog_files(lake: Path, count: int) -> list[Path]:
    """``count`` distinct real-data COGs (cached)."""
    # Keyed without ``count``: file i is the same whatever the count, so larger corpora extend smaller ones.
    directory = keyed_folder("cogs", cache_key(lake, SIZE, RESOLUTION, WEST, NORTH, CRS))
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / f"elevation-{index:05d}.tif" for index in range(count)]
    missing = [(index, path) for index, path in enumerate(paths) if not path.exists()]
    if missing:
        source = _source(lake)
        rows, cols = source.shape[0] - SIZE, source.shape[1] - SIZE
        for index, path in missing:
            # Windows walk the globe on a coprime stride: every file holds different real values.
            row = (index * 97) % rows
            col = (index * 389) % cols
            window = Window(col, row, SIZE, SIZE)
            data = source[window.row_off : window.row_off + SIZE, window.col_off : window.col_off + SIZE]
            _write_cog(path, np.ascontiguousarray(data))
    return paths


def _item(index: int, href: str, collection: str) -> dict[str, Any]:
    east, south = WEST + SIZE * RESOLUTION, NORTH - SIZE * RESOLUTION
    day = FIRST_DAY + timedelta(days=index)
    return {
        "type": "Feature",
        "stac_version": "1.1.0",
        "stac_extensions": [PROJ, RASTER],
        "id": f"{collection}-{index:05d}",
        "collection": collection,
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[WEST, south], [east, south], [east, NORTH], [WEST, NORTH], [WEST, south]]],
        },
        "bbox": [WEST, south, east, NORTH],
        "properties": {
            "datetime": day.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "proj:code": CRS,
            "proj:shape": [SIZE, SIZE],
            "proj:transform": [RESOLUTION, 0.0, WEST, 0.0, -RESOLUTION, NORTH, 0.0, 0.0, 1.0],
        },
        "links": [],
        "assets": {
            "elevation": {
                "href": href,
                "type": "image/tiff; application=geotiff; profile=cloud-optimized",
                "roles": ["data"],
                "raster:bands": [{"data_type": "float32", "nodata": "nan", "unit": "m"}],
            }
        },
    }


def collection(lake: Path, items: int, files: int | None = None) -> Path:
    """A static STAC catalog (catalog -> collection -> ``items`` items); returns the catalog.json path (cached)."""
    files = min(files or items, items)
    name = f"cogs-{items}"
    root = keyed_folder(f"{name}-of-{files}", cache_key(lake, items, files, FIRST_DAY.isoformat()))
    catalog_path = root / "catalog.json"
    if catalog_path.exists():
        return catalog_path
    sources = cog_files(lake, files)
    partial = root.with_name(root.name + ".part")
    if partial.exists():
        for path in sorted(partial.rglob("*"), reverse=True):
            path.unlink() if not path.is_dir() or path.is_symlink() else path.rmdir()
    links_dir = partial / "data"
    links_dir.mkdir(parents=True)
    item_links = []
    for index in range(items):
        link = links_dir / f"{index:05d}.tif"
        link.symlink_to(sources[index % files])
        item = _item(index, f"../../data/{link.name}", name)
        item["links"] = [
            {"rel": "root", "href": "../../catalog.json", "type": "application/json"},
            {"rel": "parent", "href": "../collection.json", "type": "application/json"},
            {"rel": "collection", "href": "../collection.json", "type": "application/json"},
        ]
        item_dir = partial / name / item["id"]
        item_dir.mkdir(parents=True)
        (item_dir / f"{item['id']}.json").write_text(json.dumps(item))
        item_links.append({"rel": "item", "href": f"./{item['id']}/{item['id']}.json", "type": "application/json"})
    east, south = WEST + SIZE * RESOLUTION, NORTH - SIZE * RESOLUTION
    last_day = FIRST_DAY + timedelta(days=items - 1)
    collection_doc = {
        "type": "Collection",
        "stac_version": "1.1.0",
        "stac_extensions": [],
        "id": name,
        "title": f"Benchmark: {items} elevation COG items",
        "description": f"{items} COG items cut from the demo lake's 5' elevation grid, one grid, one item per day.",
        "license": "other",
        "extent": {
            "spatial": {"bbox": [[WEST, south, east, NORTH]]},
            "temporal": {"interval": [[FIRST_DAY.isoformat(), last_day.isoformat()]]},
        },
        "links": [
            {"rel": "root", "href": "../catalog.json", "type": "application/json"},
            {"rel": "parent", "href": "../catalog.json", "type": "application/json"},
            *item_links,
        ],
    }
    (partial / name / "collection.json").write_text(json.dumps(collection_doc))
    (partial / "catalog.json").write_text(
        json.dumps(
            {
                "type": "Catalog",
                "stac_version": "1.1.0",
                "id": f"bench-{name}",
                "description": "GAIA Lab benchmark catalogue",
                "links": [
                    {"rel": "root", "href": "./catalog.json", "type": "application/json"},
                    {"rel": "child", "href": f"./{name}/collection.json", "type": "application/json"},
                ],
            }
        )
    )
    partial.rename(root)
    return catalog_path
