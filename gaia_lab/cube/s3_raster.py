"""A lone GeoTIFF on ``s3://`` (no STAC metadata), read with its provider's credentials carried by reference.

rioxarray reads the header (inside the provider's GDAL environment) and gives the grid; its chunks would later read
through a file handle opened outside any environment, with whatever credentials the process holds. The cube's
chunks are therefore read by :class:`S3RasterBand`, which pickles as the href and the credentials *reference* and
opens the file inside ``gaia_lab.cube.s3.gdal_env`` in the process that reads it (a Dask worker learns the
credentials from its cluster's worker plugin, see ``gaia_lab.worker_credentials``).
"""

from __future__ import annotations

from typing import Any

import dask.array as da
import numpy as np
import rasterio
import rioxarray
import xarray as xr
from dask.base import tokenize
from rasterio.windows import Window

from gaia_lab import credentials
from gaia_lab.cube import s3
from gaia_lab.errors import AssetError


class S3RasterBand:
    """One band of a GeoTIFF on S3 as an array dask slices: each slice opens the file with the credentials of
    ``ref`` and reads its window, no data as NaN."""

    def __init__(self, href: str, ref: str, band: int, shape: tuple[int, int], dtype: np.dtype[Any]) -> None:
        self.href, self.ref, self.band = href, ref, band
        self.shape, self.dtype, self.ndim = shape, dtype, 2

    def __getitem__(self, key: tuple[slice, slice]) -> np.ndarray:
        (row0, row1, _), (col0, col1, _) = (k.indices(n) for k, n in zip(key, self.shape, strict=True))
        window = Window(col0, row0, max(0, col1 - col0), max(0, row1 - row0))
        with s3.gdal_env(self.ref):
            try:
                with rasterio.open(self.href) as source:
                    data = source.read(self.band, window=window, masked=True)
                return np.ma.filled(data.astype(self.dtype), np.nan)
            except Exception as error:
                failure = read_error(error, self.href, self.ref)
        # Raised outside the handler: dask's workers pickle exceptions with their context, and GDAL's do not unpickle
        raise failure

    def __repr__(self) -> str:
        return f"S3RasterBand({self.href!r}, band={self.band}, credentials={credentials.label_of(self.ref)!r})"


def read_error(error: BaseException, href: str, ref: str, *, entry_id: str | None = None) -> AssetError:
    """A refusal naming bucket and provider, else the cause (without secrets)."""
    translated = s3.translate(error, href, ref, entry_id=entry_id)
    if translated is not None:
        return translated
    return AssetError(
        href,
        f"cannot read as a GeoTIFF: {type(error).__name__}: {credentials.scrub(str(error))}",
        entry_id=entry_id,
    )


def open_s3_geotiff(
    href: str, ref: str, *, entry_id: str, chunks: dict[str, int], names: list[str] | None
) -> xr.Dataset:
    """The GeoTIFF at ``href`` as a lazy Dataset, one variable per band (masked, as ``open_geotiff`` opens files)."""
    failure: AssetError | None = None
    with s3.gdal_env(ref):
        try:
            array = rioxarray.open_rasterio(href, chunks=chunks, lock=False, masked=True)
        except Exception as error:
            failure = read_error(error, href, ref, entry_id=entry_id)
    if failure is not None:
        raise failure
    assert isinstance(array, xr.DataArray)
    names = names or [f"band_{int(b)}" for b in array["band"].values]
    if len(names) != array.sizes["band"]:
        raise AssetError(href, f"{array.sizes['band']} bands, but {len(names)} names given", entry_id=entry_id)
    shape = (array.sizes["y"], array.sizes["x"])
    assert array.chunks is not None
    band_chunks = array.chunks[1:]
    variables = {}
    for i, name in enumerate(names):
        band = S3RasterBand(href, ref, i + 1, shape, array.dtype)
        data = da.from_array(
            band,
            chunks=band_chunks,
            name=f"s3-geotiff-{tokenize(href, ref, i, band_chunks)}",
            meta=np.empty((0, 0), dtype=array.dtype),
        )
        variables[name] = array.isel(band=i, drop=True).copy(data=data)
    return xr.Dataset(variables)
