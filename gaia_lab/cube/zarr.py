"""Zarr assets -> lazy, dask-backed Datasets through xarray's zarr backend (v2 and v3, local, http(s), s3)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import xarray as xr

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
) -> xr.Dataset:
    """Open the Zarr store at ``href`` lazily; reads only metadata (consolidated when available)."""
    open_kwargs = dict(open_kwargs or {})
    unknown = set(open_kwargs) - set(_STORE_KEYS) - set(_DECODE_KEYS) - {"engine", "chunks"}
    store_kwargs = {k: open_kwargs[k] for k in _STORE_KEYS if k in open_kwargs}
    decode_kwargs = {k: open_kwargs[k] for k in _DECODE_KEYS if k in open_kwargs}
    if unknown:
        raise AssetError(href, f"unsupported xarray:open_kwargs {sorted(unknown)}", entry_id=entry_id)
    store_kwargs.setdefault("consolidated", None)
    try:
        store = NamingZarrStore.open_group(
            href,
            mode="r",
            storage_options=dict(storage_options) if storage_options else None,
            **store_kwargs,
        )
    except FileNotFoundError as error:
        raise AssetError(href, f"no Zarr store here ({error})", entry_id=entry_id) from None
    except (ValueError, KeyError, OSError, TypeError) as error:
        raise AssetError(
            href, f"cannot open as a Zarr store: {type(error).__name__}: {error}", entry_id=entry_id
        ) from None
    except Exception as error:
        # zarr, fsspec and aiohttp raise their own families (GroupNotFoundError, ClientError, ...)
        raise AssetError(
            href, f"cannot open as a Zarr store: {type(error).__name__}: {error}", entry_id=entry_id
        ) from None
    store.href = href
    try:
        return xr.open_dataset(
            href,
            engine="zarr",
            store=store,
            chunks=dict(chunks) if chunks else {},
            **decode_kwargs,
        )
    except Exception as error:
        store.close()
        raise AssetError(
            href, f"cannot decode the Zarr store: {type(error).__name__}: {error}", entry_id=entry_id
        ) from None
