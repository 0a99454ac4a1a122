"""The ``ds.gaia`` accessor: provenance and a quick-look that picks a sensible plot for the cube's dims."""

from __future__ import annotations

from typing import Any

import xarray as xr

_X_NAMES = ("x", "longitude", "lon")
_Y_NAMES = ("y", "latitude", "lat")


@xr.register_dataset_accessor("gaia")
class GaiaAccessor:
    def __init__(self, ds: xr.Dataset) -> None:
        self._ds = ds

    @property
    def provenance(self) -> dict[str, Any]:
        """Provider, entry id and asset hrefs the cube was opened from."""
        return {k.split(":", 1)[1]: v for k, v in self._ds.attrs.items() if k.startswith("gaia:")}

    def _spatial_dims(self, variable: xr.DataArray) -> tuple[str, str] | None:
        x = next((d for d in variable.dims if d in _X_NAMES), None)
        y = next((d for d in variable.dims if d in _Y_NAMES), None)
        return (str(x), str(y)) if x and y else None

    def quicklook(self, variable: str | None = None, *, max_pixels: int = 1_000_000, **kwargs: Any) -> Any:
        """An hvplot of one variable: a map with a time slider for (time, y, x), a line for (time,),
        lines per station for (time, station); large grids are coarsened first so only what is shown is read."""
        import hvplot.xarray  # noqa: F401  (registers .hvplot)

        name = variable or next(iter(self._ds.data_vars))
        data = self._ds[name]
        spatial = self._spatial_dims(data)
        title = kwargs.pop("title", f"{data.attrs.get('long_name', name)} ({data.attrs.get('units', '')})")
        if spatial is not None:
            x, y = spatial
            factor = max(1, int((data.sizes[x] * data.sizes[y] / max_pixels) ** 0.5 + 0.999))
            if factor > 1:
                data = data.coarsen({x: factor, y: factor}, boundary="trim").mean()
            extra = [d for d in data.dims if d not in (x, y)]
            options: dict[str, Any] = {"x": x, "y": y, "cmap": "viridis", "title": title, "rasterize": False}
            options["groupby"] = extra if extra else None
            if not extra:
                options.pop("groupby")
            return data.hvplot.image(**{**options, **kwargs})
        if "time" in data.dims and data.ndim == 1:
            return data.hvplot.line(x="time", title=title, **kwargs)
        if "time" in data.dims and data.ndim == 2:
            other = next(d for d in data.dims if d != "time")
            return data.hvplot.line(x="time", by=other, title=title, **kwargs)
        if data.ndim == 2:  # curvilinear grids: plot on their 2-D coordinates
            lon = next((c for c in data.coords if c in ("nav_lon", "longitude", "lon") and data[c].ndim == 2), None)
            lat = next((c for c in data.coords if c in ("nav_lat", "latitude", "lat") and data[c].ndim == 2), None)
            if lon and lat:
                return data.hvplot.quadmesh(x=lon, y=lat, title=title, cmap="viridis", **kwargs)
        return data.hvplot(title=title, **kwargs)
