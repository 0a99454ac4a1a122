"""Reading ``s3://`` assets with a provider's credentials, carried by reference (see ``gaia_lab.credentials``).

- Zarr: an s3fs filesystem built from the reference. fsspec pickles a filesystem as its constructor arguments, so a
  dask graph of the cube holds the reference, and each worker resolves it from its own registry.
- COG: odc-loader's rasterio driver, whose per-load environment (captured in the graph) holds the reference; each
  read opens ``/vsis3/`` inside a ``rasterio.Env`` with the credentials as thread-local GDAL options, never in the
  process environment, so two loads with different credentials in one worker do not mix. A lone GeoTIFF
  (``gaia_lab.cube.s3_raster``) reads its chunks inside the same environment.
- NetCDF: the s3fs filesystem of Zarr, whose files pickle as the filesystem and path (``gaia_lab.cube.netcdf``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import rasterio.env
from rasterio.session import DummySession

from gaia_lab import credentials
from gaia_lab.cube.reads import HrefNamingDriver, HrefNamingReader
from gaia_lab.errors import AssetError

_REF_OPTION = "gaia_credentials"


def is_s3(href: str) -> bool:
    return href.startswith(("s3://", "s3a://"))


def register(storage_options: Mapping[str, Any] | None, label: str) -> str:
    """Register the provider's credentials in this process; the reference reads carry."""
    return credentials.register(credentials.S3Access.from_storage_options(storage_options, label))


def zarr_store(href: str, ref: str) -> Any:
    """A read-only zarr ``FsspecStore`` on ``href`` reading with the credentials ``ref`` names."""
    from zarr.storage import FsspecStore

    # s3fs takes a third of a second to import: only when an s3:// store is opened
    from gaia_lab.cube.s3_filesystem import CredentialedS3FileSystem

    fs = CredentialedS3FileSystem(gaia_credentials=ref, asynchronous=True)
    return FsspecStore(fs, read_only=True, path=href.split("://", 1)[1].rstrip("/"))


def refusal(error: BaseException, href: str, ref: str) -> str | None:
    """What an S3 refusal (or credentials missing in this process) means, naming bucket and provider; ``None`` when
    ``error`` is something else."""
    if credentials.lookup(ref) is None:
        provider = credentials.label_of(ref)
        return f"S3 bucket {credentials.bucket_of(href)!r}: " + credentials.missing_credentials(provider)
    return credentials.refusal(href, error, ref)


def translate(error: BaseException, href: str, ref: str, *, entry_id: str | None = None) -> AssetError | None:
    """An AssetError naming bucket and provider for an S3 refusal, else ``None``."""
    message = refusal(error, href, ref)
    return AssetError(href, message, entry_id=entry_id) if message is not None else None


class CredentialedReader(HrefNamingReader):
    def failure(self, error: Exception) -> AssetError:
        ref = getattr(self._ctx, "gaia_credentials", None)
        if ref is None or not is_s3(self._src.uri):
            return super().failure(error)
        message = refusal(error, self._src.uri, ref)
        if message is None:
            return AssetError(self._src.uri, credentials.scrub(str(super().failure(error).reason)))
        return AssetError(self._src.uri, f"band {self._src.band}: {message}")


@functools.lru_cache(maxsize=64)
def _session(access: credentials.S3Access) -> Any:
    # A boto3 session per set of credentials and process: creating one per read would cost milliseconds.
    return access.rasterio_session()


@contextmanager
def gdal_env(ref: str, options: Mapping[str, Any] | None = None) -> Iterator[None]:
    """A ``rasterio.Env`` reading ``/vsis3/`` with the credentials ``ref`` names, as thread-local GDAL options
    (never the process environment: two reads with other credentials in one process do not mix)."""
    access = credentials.lookup(ref)
    if access is None:
        # Credentials from the process environment or ~/.aws must not stand in for missing ones: the reads fail,
        # and the error says that the provider's credentials did not reach this process.
        session: Any = DummySession()
        settings = dict(options or {})
    else:
        session, settings = _session(access), {**(options or {}), **access.gdal_options()}
    with rasterio.env.Env(session=session, **settings):
        yield


class _Context:
    def __init__(self, ref: str) -> None:
        self.gaia_credentials = ref


class CredentialedDriver(HrefNamingDriver):
    """odc-loader's rasterio driver reading ``s3://`` hrefs with the credentials a reference names."""

    def __init__(self, ref: str) -> None:
        super().__init__()
        self.ref = ref

    def capture_env(self) -> dict[str, Any]:
        # What the graph carries: odc's own options (no secrets: sessions are not captured) and the reference.
        env = {k: v for k, v in super().capture_env().items() if not k.startswith("AWS_") and k != "_aws"}
        env[_REF_OPTION] = self.ref
        return env

    @contextmanager
    def restore_env(self, env: dict[str, Any], load_state: Any) -> Iterator[Any]:
        env = dict(env)
        ref = str(env.pop(_REF_OPTION, self.ref))
        with gdal_env(ref, env):
            yield _Context(ref)

    def open(self, src: Any, ctx: Any) -> Any:
        return CredentialedReader(src, ctx)
