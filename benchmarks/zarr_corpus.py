"""The COG corpus's pixels as one Zarr store (format 3, consolidated) behind a STAC collection with a Zarr asset,
cached under ``benchmarks/.cache`` in a folder keyed like the COG corpus (``cog_corpus.cache_key``)."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import dask
import xarray as xr

import gaia_lab as gl
from benchmarks.cog_corpus import SIZE, cache_key, keyed_folder
from benchmarks.common import demo_lake

BAND = "elevation"
ZARR_TIME_CHUNK = 16
WRITERS = ("zarr", "xarray", "numcodecs", "dask")


def gaia_cube(catalog_path: Path, entry: str) -> xr.Dataset:
    catalog = gl.open_catalog({"providers": [{"name": "bench", "hub": "land", "url": str(catalog_path)}]})
    return catalog[f"bench/{entry}"].to_xarray()


def zarr_collection(catalog_path: Path, size: int) -> tuple[Path, Path]:
    """The same pixels as the COG collection, as one Zarr store (format 3, consolidated) behind a STAC
    collection with a Zarr asset; returns (catalog.json, store)."""
    # The store is keyed by the COG collection it copies (whose folder name carries that corpus's key), this
    # module's code and the writers' versions.
    key = cache_key(demo_lake(), catalog_path.parent.name, ZARR_TIME_CHUNK, code=(Path(__file__),), packages=WRITERS)
    root = keyed_folder(f"zarr-{size}", key)
    store = root / "elevation.zarr"
    catalog = root / "catalog.json"
    if catalog.exists():
        return catalog, store
    cube = gaia_cube(catalog_path, f"cogs-{size}")[[BAND]]
    with dask.config.set(scheduler="threads"):
        data = cube.drop_vars("spatial_ref", errors="ignore").compute()
    data.attrs = {}
    root.mkdir(parents=True, exist_ok=True)
    encoding = {BAND: {"chunks": (ZARR_TIME_CHUNK, SIZE, SIZE)}}
    with warnings.catch_warnings():
        # Consolidated metadata is not in the Zarr v3 spec; zarr-python warns, readers use it (as the lake does).
        warnings.filterwarnings("ignore", message=".*[Cc]onsolidated metadata.*")
        data.to_zarr(store, mode="w", zarr_format=3, consolidated=True, encoding=encoding)
    collection_doc = {
        "type": "Collection",
        "stac_version": "1.1.0",
        "id": f"zarr-{size}",
        "description": "the benchmark COGs as one Zarr store",
        "license": "other",
        "extent": {"spatial": {"bbox": [[-180, -90, 180, 90]]}, "temporal": {"interval": [[None, None]]}},
        "links": [{"rel": "root", "href": "./catalog.json"}, {"rel": "parent", "href": "./catalog.json"}],
        "assets": {
            "data": {"href": "./elevation.zarr", "type": "application/vnd+zarr", "roles": ["data"]},
        },
    }
    (root / "collection.json").write_text(json.dumps(collection_doc))
    catalog.write_text(
        json.dumps(
            {
                "type": "Catalog",
                "stac_version": "1.1.0",
                "id": f"bench-zarr-{size}",
                "description": "GAIA Lab benchmark catalogue",
                "links": [
                    {"rel": "root", "href": "./catalog.json"},
                    {"rel": "child", "href": "./collection.json"},
                ],
            }
        )
    )
    return catalog, store
