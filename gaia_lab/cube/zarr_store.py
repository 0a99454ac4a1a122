"""Zarr reading that names the store, variable and chunk when a chunk cannot be read at compute time.

xarray's zarr backend accepts a ready ``store``; we give it a :class:`~xarray.backends.zarr.ZarrStore` whose
variables wrap their lazily indexed arrays, so a corrupt or missing chunk raises
:class:`~gaia_lab.errors.AssetError` (picklable, so it crosses dask workers) instead of a codec error.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr
from xarray.backends import BackendArray
from xarray.backends.zarr import ZarrStore
from xarray.core import indexing

from gaia_lab.credentials import scrub
from gaia_lab.errors import AssetError


class ChunkNamingArray(BackendArray):
    """A lazily indexed array whose read errors name the store and variable."""

    def __init__(self, inner: Any, href: str, variable: str, credentials_ref: str | None = None) -> None:
        self.inner = inner
        self.href = href
        self.variable = variable
        self.credentials_ref = credentials_ref
        self.shape = inner.shape
        self.dtype = inner.dtype

    def __getitem__(self, key: indexing.ExplicitIndexer) -> np.typing.ArrayLike:
        try:
            return np.asarray(self.inner[key].get_duck_array())
        except AssetError:
            raise
        except Exception as error:
            message = None
            if self.credentials_ref is not None:
                from gaia_lab.cube.s3 import refusal

                message = refusal(error, self.href, self.credentials_ref)
            if message is None:
                raise AssetError(
                    self.href,
                    f"variable {self.variable!r}, selection {key}: cannot read or decode Zarr chunk "
                    f"({type(error).__name__}: {scrub(str(error))}); the store may be corrupt or incomplete",
                ) from error
        # An S3 refusal: raised outside the handler, so that no botocore error travels with it as its context.
        raise AssetError(self.href, f"variable {self.variable!r}: {message}")


class NamingZarrStore(ZarrStore):
    """A ZarrStore whose variables raise AssetError naming ``href`` when a chunk fails."""

    href: str = ""
    gaia_credentials: str | None = None  # the reference of an s3:// store's credentials (gaia_lab.credentials)

    def get_variables(self) -> Any:
        variables = super().get_variables()
        wrapped = {}
        for name, variable in variables.items():
            data = indexing.LazilyIndexedArray(ChunkNamingArray(variable._data, self.href, name, self.gaia_credentials))
            wrapped[name] = xr.Variable(variable.dims, data, variable.attrs, variable.encoding)
        return type(variables)(wrapped) if isinstance(variables, dict) else wrapped
