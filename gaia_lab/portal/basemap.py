"""The portal's base map from packaged data, no tile server: Natural Earth's 1:110m land (admin-0 map units), the
shapefile EODAG ships in ``eodag/resources/shp`` (public domain), turned into GeoJSON once."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

from gaia_lab.errors import GaiaLabError

SHAPEFILE = Path("resources") / "shp" / "ne_110m_admin_0_map_units.shp"


class BasemapError(GaiaLabError):
    """No packaged base map data is installed."""


def source() -> Path:
    """Natural Earth's shapefile inside the installed eodag package (found without importing eodag: 2 s saved)."""
    spec = importlib.util.find_spec("eodag")
    if spec is None or not spec.submodule_search_locations:
        raise BasemapError("no base map: the eodag package (which ships Natural Earth's land) is not installed")
    for location in spec.submodule_search_locations:
        path = Path(location) / SHAPEFILE
        if path.is_file():
            return path
    raise BasemapError(f"no base map: {SHAPEFILE} is missing from the eodag package")


def geojson(cache_dir: Path) -> Path:
    """The land polygons as GeoJSON in ``cache_dir`` (written once, atomically)."""
    target = cache_dir / "basemap.geojson"
    shapefile = source()
    if target.exists() and target.stat().st_mtime >= shapefile.stat().st_mtime:
        return target
    import pyogrio

    frame = pyogrio.read_dataframe(shapefile, columns=["NAME"])
    data = json.loads(frame.to_crs("EPSG:4326").to_json(drop_id=True))
    data["attribution"] = "Made with Natural Earth (public domain), from the eodag package"
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    partial.write_text(json.dumps(data, separators=(",", ":")))
    os.replace(partial, target)
    return target
