"""A NetCDF archive in the lake, as data centres hold them (one NetCDF-4 file per time step), published as one
virtual Zarr store: kerchunk references next to the files, relative to them, so that the store opens from the
lake directory, from the lake server over HTTP and from a copy of the lake in a bucket."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pystac
import xarray as xr

from gaia_lab.cube.virtual import open_virtual
from gaia_lab.datalake.stac import DATACUBE, XARRAY, cube_metadata
from gaia_lab.virtualize import virtual_asset, virtualize

ARCHIVE_DIR = "netcdf"
REFERENCES = "references.json"


def write_archive(ds: xr.Dataset, directory: Path, stem: str, *, chunks: dict[str, int] | None = None) -> list[Path]:
    """One NetCDF-4 (HDF5) file per time step, deflated, chunked as ``chunks`` (default: the whole step)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(ds.sizes["time"]):
        step = ds.isel(time=slice(index, index + 1))
        when = step["time"].values[0]
        label = f"{pd.Timestamp(when):%Y-%m}" if not hasattr(when, "calendar") else when.strftime("%Y-%m")
        path = directory / f"{stem}-{label}.nc"
        encoding = {
            str(name): {
                "zlib": True,
                "complevel": 4,
                "shuffle": True,
                "chunksizes": tuple((chunks or {}).get(str(d), step.sizes[d]) for d in var.dims),
            }
            for name, var in step.data_vars.items()
        }
        encoding["time"] = {"units": "days since 1970-01-01", "dtype": "float64"}
        step.to_netcdf(path, engine="h5netcdf", encoding=encoding)
        paths.append(path)
    return paths


def publish(ds: xr.Dataset, out: Path, stem: str) -> Path:
    """Write the archive under ``out/netcdf`` and its virtual store ``out/references.json``."""
    write_archive(ds, out / ARCHIVE_DIR, stem)
    references = out / REFERENCES
    virtualize([str(out / ARCHIVE_DIR)], str(references), format="kerchunk-json", overwrite=True)
    return references


def collection(
    out: Path,
    collection_id: str,
    *,
    title: str,
    description: str,
    keywords: list[str],
    licence: str,
    producers: list[pystac.Provider],
    hub: str,
) -> pystac.Collection:
    """A collection whose ``zarr`` asset is the virtual store, described from the store's metadata."""
    references = out / REFERENCES
    ds = open_virtual(str(references))
    ds = ds.rio.set_spatial_dims(x_dim="longitude", y_dim="latitude") if "longitude" in ds.dims else ds
    meta = cube_metadata(ds)
    extent = pystac.Extent(pystac.SpatialExtent([meta["bbox"]]), pystac.TemporalExtent([meta["interval"]]))
    result = pystac.Collection(
        collection_id,
        description,
        extent,
        title=title,
        license=licence,
        keywords=keywords,
        providers=producers,
        extra_fields={
            "gaia:hub": hub,
            "cube:dimensions": meta["cube:dimensions"],
            "cube:variables": meta["cube:variables"],
        },
        stac_extensions=[DATACUBE, XARRAY],
    )
    asset = virtual_asset(str(references), "kerchunk-json")
    href = asset.pop("href")
    result.add_asset(
        "zarr",
        pystac.Asset(
            href, title=asset.pop("title"), media_type=asset.pop("type"), roles=asset.pop("roles"), extra_fields=asset
        ),
    )
    files = sorted((out / ARCHIVE_DIR).glob("*.nc"))
    result.extra_fields["gaia:archive"] = {"files": len(files), "format": "NetCDF-4", "directory": ARCHIVE_DIR}
    return result
