"""The demo data lake: real Earth-system data shipped in PyPI (and optionally Debian) packages, converted to the
formats hubs serve (Zarr v2/v3, Cloud-Optimized GeoTIFF) and catalogued in static STAC, one catalog per hub."""

from gaia_lab.datalake.build import LakeReport, build_lake
from gaia_lab.paths import default_lake_dir

__all__ = ["LakeReport", "build_lake", "default_lake_dir"]
