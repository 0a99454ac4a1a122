"""Zarr assets -> lazy, dask-backed Datasets through xarray's zarr backend (v2 and v3, local, http(s), s3)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import xarray as xr

from gaia_lab.credentials import scrub
from gaia_lab.cube import s3
from gaia_lab.cube.zarr_store import NamingZarrStore
from gaia_lab.errors import AssetError

# Keys of `xarray:open_kwargs` that select how the store is opened; anything else goes to decoding.
_STORE_KEYS = ("consolidated", "zarr_format", "group")
_DECODE_KEYS = ("mask_and_scale", "decode_times", "decode_coords", "decode_timedelta", "use_cftime", "drop_variables")


def open_zarr(
    href: str,
    *,
    open_kwargs: Mapping[str, Any] | None = None,
    storage_options: Mapping[str, Any] | None = None,
    chunks: Mapping[str, int] | None = None,
    entry_id: str | None = None,
    provider: str | None = None,
) -> xr.Dataset:
    """Open the Zarr store at ``href`` lazily; reads only metadata (consolidated when available).

    An ``s3://`` store reads with the credentials in ``storage_options``, carried by reference (``gaia_lab.cube.s3``):
    a refusal is an AssetError naming the bucket and ``provider``."""
    open_kwargs = dict(open_kwargs or {})
    unknown = set(open_kwargs) - set(_STORE_KEYS) - set(_DECODE_KEYS) - {"engine", "chunks"}
    store_kwargs = {k: open_kwargs[k] for k in _STORE_KEYS if k in open_kwargs}
    decode_kwargs = {k: open_kwargs[k] for k in _DECODE_KEYS if k in open_kwargs}
    if unknown:
        raise AssetError(href, f"unsupported xarray:open_kwargs {sorted(unknown)}", entry_id=entry_id)
    store_kwargs.setdefault("consolidated", None)
    ref = s3.register(storage_options, provider or (entry_id or "s3").split("/", 1)[0]) if s3.is_s3(href) else None
    try:
        if ref is not None:
            store = NamingZarrStore.open_group(s3.zarr_store(href, ref), mode="r", **store_kwargs)
        else:
            store = NamingZarrStore.open_group(
                href,
                mode="r",
                storage_options=dict(storage_options) if storage_options else None,
                **store_kwargs,
            )
    except Exception as error:
        translated = s3.translate(error, href, ref, entry_id=entry_id) if ref is not None else None
        if translated is not None:
            raise translated from None
        raise _open_error(href, error, entry_id) from None
    store.href = href
    store.gaia_credentials = ref
    try:
        return xr.open_dataset(
            href,
            engine="zarr",
            store=store,
            chunks=dict(chunks) if chunks else {},
            **decode_kwargs,
        )
    except AssetError as error:  # a coordinate's chunk, read at open, failed: its message names the cause
        store.close()
        raise AssetError(href, error.reason, entry_id=entry_id) from None
    except Exception as error:
        store.close()
        raise AssetError(
            href, f"cannot decode the Zarr store: {type(error).__name__}: {error}", entry_id=entry_id
        ) from None


def _open_error(href: str, error: Exception, entry_id: str | None) -> AssetError:
    if isinstance(error, FileNotFoundError):
        return AssetError(href, f"no Zarr store here ({error})", entry_id=entry_id)
    # zarr, fsspec and aiohttp raise their own families (GroupNotFoundError, ClientError, ...)
    return AssetError(
        href, f"cannot open as a Zarr store: {type(error).__name__}: {scrub(str(error))}", entry_id=entry_id
    )
