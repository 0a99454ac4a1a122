"""``regrid``: an entry resampled onto another grid: another entry's grid, or a CRS and resolution (odc-geo)."""

from __future__ import annotations

from typing import Any

import odc.geo.xr  # noqa: F401  (registers the .odc accessor)
import xarray as xr
from odc.geo.geobox import GeoBox
from odc.geo.xr import xr_reproject

from gaia_lab.cube.subset import reproject
from gaia_lab.errors import ProcessInputError
from gaia_lab.processing import execute, outputs
from gaia_lab.processing.common import check_query, input_errors, open_cube, raster_only
from gaia_lab.processing.context import ProcessContext, ProcessResult
from gaia_lab.processing.registry import Process, register
from gaia_lab.processing.schemas import BBOX, CRS, DATETIME, ENTRY, RESAMPLING, RESOLUTION, VARIABLES, input_field

ID = "regrid"


def _normalise(inputs: dict[str, Any]) -> dict[str, Any]:
    check_query(ID, inputs, ("bbox", "datetime", "variables"))
    target = inputs["target"]
    if ("entry" in target) == ("crs" in target or "resolution" in target):
        raise ProcessInputError(ID, "/target", "give either an entry (use its grid) or a crs and/or resolution")
    with input_errors(ID, {"crs": "target/crs", "resolution": "target/resolution"}):
        from gaia_lab.query import CubeRequest

        CubeRequest.parse(crs=target.get("crs"), resolution=target.get("resolution"))
    return inputs


def target_geobox(ds: xr.Dataset) -> GeoBox:
    """The grid of a cube (odc-geo), its CRS read from rioxarray's grid mapping."""
    geobox = ds.odc.assign_crs(ds.rio.crs.to_wkt()).odc.geobox
    if not isinstance(geobox, GeoBox):
        raise TypeError(f"not an affine grid: {type(geobox).__name__}")
    return geobox


def regrid_to(ds: xr.Dataset, geobox: GeoBox, resampling: str) -> xr.Dataset:
    source = ds.odc.assign_crs(ds.rio.crs.to_wkt())
    out: xr.Dataset = xr_reproject(source, geobox, resampling=resampling)
    return out


def _execute(inputs: dict[str, Any], context: ProcessContext) -> ProcessResult:
    ds = raster_only(open_cube(ID, inputs, context, ("bbox", "datetime", "variables")))
    target = inputs["target"]
    resampling = inputs["resampling"]
    if "entry" in target:
        grid = raster_only(open_cube(ID, {"entry": target["entry"], "bbox": inputs.get("bbox")}, context, ("bbox",)))
        try:
            geobox = target_geobox(grid)
        except (TypeError, AttributeError, ValueError) as error:
            raise ProcessInputError(ID, "/target/entry", f"{target['entry']} has no regular grid: {error}") from None
        lazy = regrid_to(ds, geobox, resampling)
        described = f"the grid of {target['entry']}"
    else:
        with input_errors(ID, {"crs": "target/crs", "resolution": "target/resolution"}):
            lazy = reproject(ds, target.get("crs"), target.get("resolution"), str(inputs["entry"]), resampling)
        described = f"crs={target.get('crs')!r} resolution={target.get('resolution')!r}"
    lazy.attrs.update(ds.attrs)
    execute.check_output_size(ID, execute.nbytes(lazy), context)
    context.progress(0.05, f"{ID}: {inputs['entry']} {dict(ds.sizes)} -> {dict(lazy.sizes)}")
    lazy = lazy.rio.write_crs(lazy.odc.crs.to_wkt())
    fmt = inputs["format"]
    if fmt == "cog":
        if "time" in lazy.dims and lazy.sizes["time"] > 1:
            raise ProcessInputError(
                ID, "/format", f"a COG holds one time step and the selection has {lazy.sizes['time']}"
            )
        # GDAL writes a COG from the whole grid: it is gathered (one time step, within max_output_bytes).
        result = execute.compute(ID, lazy, context, label="regridding")
        context.progress(0.9, f"{ID}: writing {fmt}")
        grid2d = result.squeeze("time", drop=True) if "time" in result.dims else result
        files = [outputs.write_cog(grid2d[n], context.output_dir / f"{n}.tif", str(n)) for n in grid2d.data_vars]
    else:
        result = lazy
        files = [execute.store_zarr(ID, lazy, context.output_dir / "regrid.zarr", context, label="regridding")]
    item = outputs.cube_item(
        ID,
        context,
        result,
        files,
        title=f"{inputs['entry']} on {described}",
        lineage=f"{inputs['entry']} resampled ({resampling}) onto {described}",
    )
    document, path = outputs.save_item(item, context.output_dir)
    return ProcessResult(ID, files, document, path)


PROCESS = register(
    Process(
        id=ID,
        title="Regrid",
        description="Resample an entry onto a target grid: the grid of another entry (over the same bbox), or a "
        "CRS and/or resolution; nearest, bilinear, cubic, average, ... resampling (GDAL's, through odc-geo). "
        "Written as a Zarr store, or as COGs for a single time step.",
        keywords=("regrid", "reproject", "resample", "grid", "crs"),
        inputs={
            "entry": input_field("Entry", ENTRY, required=True),
            "target": input_field(
                "Target grid",
                {
                    "type": "object",
                    "properties": {"entry": ENTRY, "crs": CRS, "resolution": RESOLUTION},
                    "additionalProperties": False,
                    "minProperties": 1,
                    "description": '{"entry": id} to use that entry\'s grid, or {"crs": ..., "resolution": ...}.',
                },
                required=True,
            ),
            "bbox": input_field("Bounding box", BBOX),
            "datetime": input_field("Time interval", DATETIME),
            "variables": input_field("Variables", VARIABLES),
            "resampling": input_field("Resampling", RESAMPLING),
            "format": input_field(
                "Output format",
                {"type": "string", "enum": ["zarr", "cog"], "default": "zarr", "description": "zarr or cog"},
            ),
        },
        example={
            "inputs": {
                "entry": "theia/land-mask-europe",
                "bbox": [-10, 35, 30, 60],
                "target": {"entry": "formater/elevation-5min"},
                "resampling": "average",
            }
        },
        execute=_execute,
        normalise=_normalise,
        entry_inputs=("/entry", "/target/entry"),
    )
)
