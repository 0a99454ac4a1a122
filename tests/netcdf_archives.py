"""NetCDF archives for the virtual Zarr tests, and where they are served from.

The archive is real data: OSTIA monthly SST (iris-sample-data) written as a data centre archives it, one
NetCDF-4 file per month, by the lake's own writer. ``Sources`` is what a test sees of one place the files live
(local directory, the lake server over HTTP; an S3 bucket can be added the same way): the URLs to virtualize,
the storage options, and how to change, replace or remove one file there.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xarray as xr

from gaia_lab.datalake import netcdf_archive, sources
from gaia_lab.datalake.datasets import _ostia

STEM = "ostia-sst"


def write_ostia_archive(directory: Path, *, months: int | None = None) -> list[Path]:
    """OSTIA monthly SST, one NetCDF-4 file per month (all 54, or the first ``months``)."""
    ds = _ostia(sources.iris("ostia_monthly.nc")).drop_vars("time_bnds")
    if months is not None:
        ds = ds.isel(time=slice(0, months))
    return netcdf_archive.write_archive(ds, directory, STEM)


def reference(paths: list[Path]) -> xr.Dataset:
    """The same files through xarray's own multi-file opening: what the virtual store must equal."""
    return xr.open_mfdataset(
        [str(p) for p in paths],
        combine="nested",
        concat_dim="time",
        data_vars="minimal",
        coords="minimal",
        compat="override",
        engine="h5netcdf",
    )


@dataclass
class Sources:
    """The archive's files as seen from one place: ``urls`` to virtualize, ``storage_options`` to reach them,
    and ``files`` on disk behind them (for local and HTTP, the same files)."""

    kind: str
    files: list[Path]
    urls: list[str]
    storage_options: dict[str, Any] | None = None
    spare: list[Path] = field(default_factory=list)  # same-shaped files of other months, for replacements

    def touch(self, index: int, seconds: float = 5.0) -> None:
        """Rewrite nothing, move the modification time on (as a re-run of a producer that writes the same
        bytes would)."""
        stat = self.files[index].stat()
        os.utime(self.files[index], ns=(stat.st_atime_ns, stat.st_mtime_ns + int(seconds * 1e9)))

    def replace(self, index: int) -> None:
        """Put another month's data in place of this file (same size class, different content)."""
        target = self.files[index]
        stat = target.stat()
        shutil.copyfile(self.spare[0], target)
        os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))

    def remove(self, index: int) -> None:
        self.files[index].unlink()


@dataclass
class S3Sources(Sources):
    """The archive uploaded to a bucket of an S3 server: changes are new uploads (S3 objects are immutable)."""

    client: Any = None
    bucket: str = ""
    prefix: str = ""

    def _put(self, index: int, body: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=f"{self.prefix}/{self.files[index].name}", Body=body)

    def touch(self, index: int, seconds: float = 5.0) -> None:
        """Re-uploaded with a byte more (S3 has no mtime to move: a new upload is the change)."""
        self._put(index, self.files[index].read_bytes() + b"\0")

    def replace(self, index: int) -> None:
        self._put(index, self.spare[0].read_bytes())

    def remove(self, index: int) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=f"{self.prefix}/{self.files[index].name}")
