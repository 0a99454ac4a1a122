"""``aggregate``: temporal resampling (monthly, seasonal, yearly), climatologies and anomalies of an entry."""

from __future__ import annotations

from typing import Any

import xarray as xr

from gaia_lab.errors import ProcessInputError
from gaia_lab.processing import execute, outputs
from gaia_lab.processing.common import check_query, open_cube, raster_only
from gaia_lab.processing.context import ProcessContext, ProcessResult
from gaia_lab.processing.registry import Process, register
from gaia_lab.processing.schemas import BBOX, DATETIME, ENTRY, VARIABLES, input_field

ID = "aggregate"
#: Period -> pandas/cftime resampling frequency (meteorological seasons start in December) or groupby key.
FREQUENCIES = {"month": "MS", "season": "QS-DEC", "year": "YS"}
GROUPS = {"month": "time.month", "season": "time.season"}
STATISTICS = ("mean", "median", "min", "max", "sum", "std", "count")


def _normalise(inputs: dict[str, Any]) -> dict[str, Any]:
    check_query(ID, inputs, ("bbox", "datetime", "variables"))
    if inputs["operation"] != "resample" and inputs["period"] not in GROUPS:
        raise ProcessInputError(
            ID, "/period", f"{inputs['operation']} groups by month or season, not {inputs['period']!r}"
        )
    return inputs


def aggregate(ds: xr.Dataset, operation: str, period: str, statistic: str) -> xr.Dataset:
    """The lazy aggregation (also what the tests compare against plain xarray)."""
    if operation == "resample":
        resampled: xr.Dataset = getattr(ds.resample(time=FREQUENCIES[period]), statistic)()
        return resampled
    climatology: xr.Dataset = getattr(ds.groupby(GROUPS[period]), statistic)()
    if operation == "climatology":
        return climatology
    anomaly: xr.Dataset = ds.groupby(GROUPS[period]) - climatology
    return anomaly.drop_vars(period, errors="ignore")


def _execute(inputs: dict[str, Any], context: ProcessContext) -> ProcessResult:
    ds = raster_only(open_cube(ID, inputs, context, ("bbox", "datetime", "variables")))
    if "time" not in ds.dims:
        raise ProcessInputError(ID, "/entry", f"{inputs['entry']} has no time dimension to aggregate")
    # Only the data variables (bounds and reference times do not aggregate); the grid keeps its CRS.
    ds = ds.drop_vars([n for n in ds.coords if n not in ds.dims and n != "spatial_ref"])
    span = outputs.time_span(ds)
    operation, period, statistic = inputs["operation"], inputs["period"], inputs["statistic"]
    lazy = aggregate(ds, operation, period, statistic)
    lazy.attrs.update(ds.attrs)
    execute.check_output_size(ID, execute.nbytes(lazy), context)
    context.progress(0.05, f"{ID}: {operation} {period} {statistic} of {inputs['entry']} {dict(ds.sizes)}")
    files = [execute.store_zarr(ID, lazy, context.output_dir / f"{operation}.zarr", context, label=operation)]
    lineage = f"{period}ly {statistic} {operation} of {inputs['entry']}"
    item = outputs.cube_item(
        ID,
        context,
        lazy,
        files,
        title=f"{operation.title()} ({period}, {statistic}) of {inputs['entry']}",
        lineage=lineage,
        span=span,
    )
    document, path = outputs.save_item(item, context.output_dir)
    return ProcessResult(ID, files, document, path)


PROCESS = register(
    Process(
        id=ID,
        title="Temporal aggregation",
        description="Aggregate an entry along time: resample to monthly, seasonal (DJF, MAM, JJA, SON) or yearly "
        "statistics, compute a monthly or seasonal climatology, or the anomaly of every time step from that "
        "climatology. Written as a Zarr store.",
        keywords=("aggregate", "resample", "climatology", "anomaly", "monthly", "seasonal", "time"),
        inputs={
            "entry": input_field("Entry", ENTRY, required=True),
            "bbox": input_field("Bounding box", BBOX),
            "datetime": input_field("Time interval", DATETIME),
            "variables": input_field("Variables", VARIABLES),
            "operation": input_field(
                "Operation",
                {
                    "type": "string",
                    "enum": ["resample", "climatology", "anomaly"],
                    "default": "resample",
                    "description": "resample: one value per period; climatology: one value per month or season "
                    "of the year over all years; anomaly: each time step minus its climatology.",
                },
            ),
            "period": input_field(
                "Period",
                {
                    "type": "string",
                    "enum": ["month", "season", "year"],
                    "default": "month",
                    "description": "month, season (DJF, MAM, JJA, SON), or year (resample only).",
                },
            ),
            "statistic": input_field(
                "Statistic",
                {"type": "string", "enum": list(STATISTICS), "default": "mean", "description": "Reducer per period."},
            ),
        },
        example={
            "inputs": {
                "entry": "climeri/sres-a1b-tas",
                "datetime": "2000-01-01/2049-12-31",
                "operation": "resample",
                "period": "year",
                "statistic": "mean",
            }
        },
        execute=_execute,
        normalise=_normalise,
    )
)
