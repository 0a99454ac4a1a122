"""Quicklook images for the portal's dataset pages, for entries that publish no thumbnail: the entry opened as a cube
(lazily), one time step of its first variable read at a reduced resolution, drawn with matplotlib; tables
(GeoParquet) drawn as points. One PNG per entry, cached on disk."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any

from gaia_lab.errors import GaiaLabError

MAX_PIXELS = 360  # longest side read: enough for a 360-pixel image, a few MB at most of any cube
_lock = threading.Lock()  # one rendering at a time: each reads data and the machine may be small


def cache_path(cache_dir: Path, entry_id: str) -> Path:
    digest = hashlib.sha256(entry_id.encode()).hexdigest()[:24]
    return cache_dir / f"{digest}.png"


def render(catalog: Any, entry_id: str, cache_dir: Path) -> Path:
    """The quicklook PNG of ``entry_id`` (a path in ``cache_dir``); GaiaLabError when the entry cannot be drawn."""
    target = cache_path(cache_dir, entry_id)
    if target.exists():
        return target
    with _lock:
        if target.exists():
            return target
        entry = catalog[entry_id]
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.figure import Figure

        figure = Figure(figsize=(4.8, 3.0), dpi=100)
        axes = figure.add_subplot()
        if _is_table(entry):
            _draw_table(entry, axes)
        else:
            _draw_raster(entry, axes)
        axes.set_title(entry.title, fontsize=8)
        figure.tight_layout()
        cache_dir.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial.png")
        figure.savefig(partial, format="png")
        os.replace(partial, target)
        return target


def _is_table(entry: Any) -> bool:
    formats = " ".join(entry.formats).lower()
    return "parquet" in formats or any(str(href).endswith(".parquet") for href in entry.assets.values())


def _draw_table(entry: Any, axes: Any) -> None:
    frame = entry.to_geopandas(crs="EPSG:4326")
    frame.plot(ax=axes, markersize=6, color="#1b6ca8")
    axes.set_xlabel("longitude", fontsize=7)
    axes.set_ylabel("latitude", fontsize=7)
    axes.tick_params(labelsize=6)


def _draw_raster(entry: Any, axes: Any) -> None:
    dataset = entry.to_xarray()
    names = [name for name, variable in dataset.data_vars.items() if variable.ndim >= 2]
    if not names:
        raise GaiaLabError(f"entry {entry.id!r}: no variable with two dimensions to draw")
    variable = dataset[names[0]]
    for dim in list(variable.dims[:-2]):
        variable = variable.isel({dim: 0})  # the first time step (or level, band)
    steps = {dim: max(1, variable.sizes[dim] // MAX_PIXELS) for dim in variable.dims}
    variable = variable.isel({dim: slice(None, None, step) for dim, step in steps.items()})
    values = variable.load()
    y_dim = values.dims[0]
    ascending = values[y_dim].size > 1 and bool(values[y_dim][0] < values[y_dim][-1])
    image = axes.imshow(values.values, origin="lower" if ascending else "upper", cmap="viridis", aspect="auto")
    colorbar = axes.figure.colorbar(image, ax=axes, shrink=0.8)
    colorbar.ax.tick_params(labelsize=6)
    label = str(values.attrs.get("units", ""))
    colorbar.set_label(f"{names[0]} {label}".strip(), fontsize=7)
    axes.set_xticks([])
    axes.set_yticks([])
