"""Opening data as lazy xarray datacubes (Zarr through xarray's backend, COG through odc-stac / rioxarray;
GeoParquet tables as xvec vector cubes in ``gaia_lab.cube.vector``, imported on first use: extra ``vector``)."""

from gaia_lab.cube.cog import open_geotiff, open_raster_items
from gaia_lab.cube.netcdf import open_netcdf
from gaia_lab.cube.opendap import open_opendap
from gaia_lab.cube.stac import open_stac, open_stac_table
from gaia_lab.cube.subset import apply_query
from gaia_lab.cube.virtual import open_virtual
from gaia_lab.cube.zarr import open_zarr

__all__ = [
    "apply_query",
    "open_geotiff",
    "open_netcdf",
    "open_opendap",
    "open_raster_items",
    "open_stac",
    "open_stac_table",
    "open_virtual",
    "open_zarr",
]
