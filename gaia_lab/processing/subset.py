"""``subset``: an entry cut to a bbox, a time interval and some variables, optionally on another grid."""

from __future__ import annotations

from typing import Any

from gaia_lab.errors import ProcessInputError
from gaia_lab.processing import execute, outputs
from gaia_lab.processing.common import check_query, open_cube, raster_only
from gaia_lab.processing.context import ProcessContext, ProcessResult
from gaia_lab.processing.registry import Process, register
from gaia_lab.processing.schemas import BBOX, CRS, DATETIME, ENTRY, RESOLUTION, VARIABLES, input_field

ID = "subset"


def _normalise(inputs: dict[str, Any]) -> dict[str, Any]:
    check_query(ID, inputs)
    return inputs


def _execute(inputs: dict[str, Any], context: ProcessContext) -> ProcessResult:
    ds = raster_only(open_cube(ID, inputs, context))
    fmt = inputs["format"]
    if fmt == "cog" and "time" in ds.dims and ds.sizes["time"] > 1:
        raise ProcessInputError(
            ID,
            "/format",
            f"a COG holds one time step and the selection has {ds.sizes['time']}: "
            "give a datetime that selects one, or ask for zarr",
        )
    execute.check_output_size(ID, execute.nbytes(ds), context)
    context.progress(0.05, f"{ID}: {dict(ds.sizes)} from {inputs['entry']}")
    if fmt == "zarr":
        result = ds
        files = [execute.store_zarr(ID, ds, context.output_dir / "subset.zarr", context, label="reading")]
    else:
        # GDAL writes a COG from the whole grid: it is gathered (one time step, within max_output_bytes).
        result = execute.compute(ID, ds, context, label="reading")
        context.progress(0.9, f"{ID}: writing {fmt}")
        grid = result.squeeze("time", drop=True) if "time" in result.dims else result
        files = [
            outputs.write_cog(grid[name], context.output_dir / f"{name}.tif", str(name)) for name in grid.data_vars
        ]
    item = outputs.cube_item(
        ID,
        context,
        result,
        files,
        title=f"Subset of {inputs['entry']}",
        lineage=f"subset of {inputs['entry']} with {_query(inputs)}",
    )
    document, path = outputs.save_item(item, context.output_dir)
    return ProcessResult(ID, files, document, path)


def _query(inputs: dict[str, Any]) -> str:
    return ", ".join(
        f"{k}={inputs[k]!r}" for k in ("bbox", "datetime", "variables", "crs", "resolution") if k in inputs
    )


PROCESS = register(
    Process(
        id=ID,
        title="Subset",
        description="Cut an entry of the catalogue to a bounding box, a time interval and some variables, "
        "optionally reprojected to a CRS and resolution, and write it as a Zarr store or as COGs (one per "
        "variable; COGs need a selection with a single time step).",
        keywords=("subset", "clip", "extract", "datacube", "zarr", "cog"),
        inputs={
            "entry": input_field("Entry", ENTRY, required=True),
            "bbox": input_field("Bounding box", BBOX),
            "datetime": input_field("Time interval", DATETIME),
            "variables": input_field("Variables", VARIABLES),
            "crs": input_field("Output CRS", CRS, description="Reproject to this CRS (default: the entry's)."),
            "resolution": input_field("Output resolution", RESOLUTION),
            "format": input_field(
                "Output format",
                {"type": "string", "enum": ["zarr", "cog"], "default": "zarr", "description": "zarr or cog"},
            ),
        },
        example={
            "inputs": {
                "entry": "odatis/ostia-sst",
                "bbox": [-60, -5, 0, 5],
                "datetime": "2007-01-01/2007-12-31",
                "variables": ["sst"],
                "format": "zarr",
            }
        },
        execute=_execute,
        normalise=_normalise,
    )
)
