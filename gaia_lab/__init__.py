"""GAIA Lab: federated search across Earth-system catalogues, and lazy xarray datacubes at scale.

>>> import gaia_lab as gl
>>> cat = gl.open_catalog()
>>> res = cat.search(q="sea surface temperature", bbox=(-10, 40, 10, 55), hubs=["ocean"])
>>> ds = res[0].to_xarray(datetime="2020")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gaia_lab._after_import import follow_imports
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
    StarredUnavailable,
)

if TYPE_CHECKING:
    from gaia_lab.catalog import Catalog, Entry, SearchResults, open_catalog
    from gaia_lab.cluster import cluster
    from gaia_lab.datacube import open_datacube
    from gaia_lab.ogc_processes.client import process, processes

__version__ = "0.1.0"

# The public API is imported on first use (PEP 562): the catalogue needs xarray and pandas, cubes dask, rasterio
# and odc-stac, clusters distributed, and `gaia-lab --help` or `import gaia_lab` need none of them.
_LAZY = {
    "Catalog": "gaia_lab.catalog",
    "Entry": "gaia_lab.catalog",
    "SearchResults": "gaia_lab.catalog",
    "open_catalog": "gaia_lab.catalog",
    "open_datacube": "gaia_lab.datacube",
    "cluster": "gaia_lab.cluster",
    "processes": "gaia_lab.ogc_processes.client",
    "process": "gaia_lab.ogc_processes.client",
}

# Registered as soon as what they extend exists, however it gets imported: the ``ds.gaia`` accessor once xarray
# is, ``SearchResults.explore()`` once the catalogue's results are.
follow_imports({"xarray": "gaia_lab.viz.accessor", "gaia_lab.catalog.results": "gaia_lab.viz.explore"})


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'gaia_lab' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the import may have set the attribute to a submodule (gaia_lab.cluster)
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


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
    "StarredUnavailable",
    "__version__",
    "cluster",
    "open_catalog",
    "open_datacube",
    "process",
    "processes",
]
