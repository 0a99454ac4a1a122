"""GAIA Lab: federated search across Earth-system catalogues, and lazy xarray datacubes at scale.

>>> import gaia_lab as gl
>>> cat = gl.open_catalog()
>>> res = cat.search(q="sea surface temperature", bbox=(-10, 40, 10, 55), hubs=["ocean"])
>>> ds = res[0].to_xarray(datetime="2020")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import gaia_lab.viz.accessor
import gaia_lab.viz.explore  # noqa: F401  (registers results.explore())
from gaia_lab.catalog import Catalog, Entry, SearchResults, open_catalog
from gaia_lab.datacube import open_datacube
from gaia_lab.errors import (
    AssetError,
    ClusterError,
    ConfigError,
    DataBuildError,
    EmptyResult,
    EntryNotFound,
    EntryNotOpenable,
    GaiaLabError,
    InvalidQuery,
    PlatformError,
    ProviderAuthError,
    ProviderError,
    ProviderTimeout,
)

if TYPE_CHECKING:
    from gaia_lab.cluster import cluster

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # distributed and dask-gateway take a second to import; load them only when a cluster is asked for.
    if name == "cluster":
        from gaia_lab.cluster import cluster

        globals()["cluster"] = cluster  # the import just set the attribute to the submodule
        return cluster
    raise AttributeError(f"module 'gaia_lab' has no attribute {name!r}")


__all__ = [
    "AssetError",
    "Catalog",
    "ClusterError",
    "ConfigError",
    "DataBuildError",
    "EmptyResult",
    "Entry",
    "EntryNotFound",
    "EntryNotOpenable",
    "GaiaLabError",
    "InvalidQuery",
    "PlatformError",
    "ProviderAuthError",
    "ProviderError",
    "ProviderTimeout",
    "SearchResults",
    "__version__",
    "cluster",
    "open_catalog",
    "open_datacube",
]
