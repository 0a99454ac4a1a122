"""``zonal-statistics``: statistics of a cube inside polygons, one table row per zone (and time step).

Zones are rasterized onto the cube's grid by xvec (rasterio.features: a pixel belongs to a zone when its centre is
inside, or when it touches it with ``all_touched``); the reductions stay lazy, grouped by zone label.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import pandas as pd
import shapely
import xarray as xr
import xvec  # noqa: F401  (registers the .xvec accessor)

from gaia_lab.errors import ProcessInputError
from gaia_lab.processing import execute, outputs
from gaia_lab.processing.common import check_query, open_cube, raster_only, spatial_dims
from gaia_lab.processing.context import ProcessContext, ProcessResult
from gaia_lab.processing.registry import Process, register
from gaia_lab.processing.schemas import DATETIME, ENTRY, VARIABLES, feature_collection, input_field

ID = "zonal-statistics"
STATISTICS = ("mean", "min", "max", "count", "sum", "std", "median")


def zones_frame(process: str, collection: dict[str, Any], id_property: str | None, pointer: str) -> gpd.GeoDataFrame:
    """The features as a GeoDataFrame (WGS 84) with a ``zone`` column: the id property, else the feature id,
    else the position. Invalid geometries or duplicate ids name the feature."""
    features = collection["features"]
    ids: list[Any] = []
    geometries = []
    for index, feature in enumerate(features):
        properties = feature.get("properties") or {}
        if id_property is not None:
            if id_property not in properties:
                raise ProcessInputError(
                    process, f"{pointer}/features/{index}/properties", f"has no {id_property!r} property"
                )
            ids.append(properties[id_property])
        else:
            ids.append(feature.get("id", index))
        try:
            geometry = shapely.geometry.shape(feature["geometry"])
        except (ValueError, TypeError, AttributeError, IndexError, shapely.errors.GEOSException) as error:
            raise ProcessInputError(
                process, f"{pointer}/features/{index}/geometry", f"invalid geometry: {error}"
            ) from None
        if geometry.is_empty or not geometry.is_valid:
            reason = shapely.is_valid_reason(geometry) if not geometry.is_empty else "empty"
            raise ProcessInputError(process, f"{pointer}/features/{index}/geometry", f"invalid geometry: {reason}")
        geometries.append(geometry)
    duplicated = pd.Index(ids)[pd.Index(ids).duplicated()]
    if len(duplicated):
        raise ProcessInputError(process, pointer, f"zone ids must be unique; repeated: {list(duplicated)[:5]}")
    return gpd.GeoDataFrame({"zone": [str(i) for i in ids]}, geometry=geometries, crs="EPSG:4326")


def _normalise(inputs: dict[str, Any]) -> dict[str, Any]:
    check_query(ID, inputs, ("datetime", "variables"))
    zones_frame(ID, inputs["zones"], inputs.get("zone_id"), "/zones")
    return inputs


def zonal_cube(ds: xr.Dataset, zones: gpd.GeoDataFrame, statistics: list[str], all_touched: bool) -> xr.Dataset:
    """The lazy statistics, dims ``(zone, zonal_statistics[, time])``."""
    x, y = spatial_dims(ds)
    local = zones.to_crs(ds.rio.crs)
    stats: xr.Dataset = ds.xvec.zonal_stats(
        local.geometry.values,
        x_coords=x,
        y_coords=y,
        stats=list(statistics),
        method="rasterize",
        all_touched=all_touched,
    )
    stats = stats.drop_vars(["geometry", "spatial_ref"], errors="ignore").rename({"geometry": "zone"})
    return stats.assign_coords(zone=zones["zone"].to_numpy())


def to_table(stats: xr.Dataset, zones: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """One row per zone (and time step), one column ``<variable>_<statistic>``; zones covering no pixel have
    NaN statistics and a count of 0."""
    columns: dict[str, pd.Series] = {}
    for name, variable in stats.data_vars.items():
        for statistic in stats["zonal_statistics"].values:
            values = variable.sel(zonal_statistics=statistic, drop=True)
            series = values.to_series()
            if statistic == "count":
                series = series.fillna(0).astype("int64")
            columns[f"{name}_{statistic}"] = series
    table = pd.DataFrame(columns).reset_index()
    if "time" in table.columns and table["time"].dtype == object:  # cftime: real dates where they exist
        iso = table["time"].map(lambda t: t.isoformat())
        try:
            table["time"] = pd.to_datetime(iso)
        except (ValueError, pd.errors.OutOfBoundsDatetime):  # 30 February on a 360-day calendar
            table["time"] = iso
    merged = zones.merge(table, on="zone", how="right")
    return gpd.GeoDataFrame(merged, geometry="geometry", crs=zones.crs)


def _execute(inputs: dict[str, Any], context: ProcessContext) -> ProcessResult:
    zones = zones_frame(ID, inputs["zones"], inputs.get("zone_id"), "/zones")
    ds = raster_only(open_cube(ID, inputs, context, ("datetime", "variables")))
    statistics = list(dict.fromkeys(inputs["statistics"]))
    try:
        lazy = zonal_cube(ds, zones, statistics, inputs["all_touched"])
    except ValueError as error:  # rasterio refuses geometries it cannot burn (e.g. outside the CRS's domain)
        raise ProcessInputError(
            ID, "/zones", f"cannot rasterize the zones on {inputs['entry']}'s grid: {error}"
        ) from None
    rows = len(zones) * (ds.sizes.get("time", 1))
    execute.check_output_size(ID, rows * (len(statistics) * len(ds.data_vars) * 8 + 64), context)
    context.progress(0.05, f"{ID}: {len(zones)} zones x {dict(ds.sizes)} of {inputs['entry']}")
    stats = execute.compute(ID, lazy, context, label="zonal statistics")
    table = to_table(stats, zones)
    context.progress(0.9, f"{ID}: writing {inputs['format']}")
    if inputs["format"] == "csv":
        files = [
            outputs.write_csv(pd.DataFrame(table.drop(columns="geometry")), context.output_dir / "zonal-statistics.csv")
        ]
    else:
        files = [outputs.write_geoparquet(table, context.output_dir / "zonal-statistics.parquet")]
    item = outputs.new_item(
        ID,
        context,
        bbox=[float(v) for v in zones.total_bounds],
        span=outputs.time_span(ds),
        title=f"Zonal statistics of {inputs['entry']} over {len(zones)} zones",
        lineage=f"{', '.join(statistics)} of {inputs['entry']} per zone "
        f"(rasterized, all_touched={inputs['all_touched']})",
        properties={
            "table:columns": [{"name": str(c), "type": str(table[c].dtype)} for c in table.columns if c != "geometry"],
            "table:row_count": len(table),
            "table:primary_geometry": "geometry",
        },
        extensions=[outputs.TABLE],
    )
    outputs.add_assets(item, files, {"table:primary_geometry": "geometry", "proj:code": "EPSG:4326"})
    document, path = outputs.save_item(item, context.output_dir)
    return ProcessResult(ID, files, document, path)


PROCESS = register(
    Process(
        id=ID,
        title="Zonal statistics",
        description="Statistics (mean, min, max, count, ...) of an entry's variables inside each polygon of a "
        "GeoJSON FeatureCollection, per time step: a table with one row per zone and time step, written as "
        "GeoParquet (with the zones' geometries) or CSV. A pixel belongs to a zone when its centre lies inside it "
        "(or when it touches it, with all_touched).",
        keywords=("zonal statistics", "polygons", "aggregation", "table", "geoparquet", "csv"),
        inputs={
            "entry": input_field("Entry", ENTRY, required=True),
            "zones": input_field(
                "Zones",
                feature_collection(["Polygon", "MultiPolygon"], "Polygons in WGS 84 (GeoJSON FeatureCollection)."),
                required=True,
            ),
            "datetime": input_field("Time interval", DATETIME),
            "variables": input_field("Variables", VARIABLES),
            "statistics": input_field(
                "Statistics",
                {
                    "type": "array",
                    "items": {"type": "string", "enum": list(STATISTICS)},
                    "minItems": 1,
                    "default": ["mean", "min", "max", "count"],
                    "description": "Statistics per zone; count is the number of valid (non-NaN) pixels.",
                },
            ),
            "zone_id": input_field(
                "Zone id property",
                {
                    "type": "string",
                    "minLength": 1,
                    "description": "Feature property that names each zone "
                    "(default: the feature id, else its position).",
                },
            ),
            "all_touched": input_field(
                "All touched",
                {"type": "boolean", "default": False, "description": "Count every pixel a zone touches."},
            ),
            "format": input_field(
                "Output format",
                {
                    "type": "string",
                    "enum": ["geoparquet", "csv"],
                    "default": "geoparquet",
                    "description": "geoparquet or csv",
                },
            ),
        },
        example={
            "inputs": {
                "entry": "odatis/ostia-sst",
                "datetime": "2007-01-01/2007-12-31",
                "zones": {
                    "type": "FeatureCollection",
                    "features": [
                        {
                            "type": "Feature",
                            "properties": {"name": "gulf-of-guinea"},
                            "geometry": {
                                "type": "Polygon",
                                "coordinates": [[[-10, -5], [10, -5], [10, 4], [-10, 4], [-10, -5]]],
                            },
                        }
                    ],
                },
                "zone_id": "name",
                "statistics": ["mean", "min", "max", "count"],
            }
        },
        execute=_execute,
        normalise=_normalise,
    )
)
