"""``time-series``: the values of a cube at named points over time (Hydroweb's virtual stations: a river or lake
crossing named by an id, sampled at each time step), as CSV or a CF discrete-sampling-geometry NetCDF file."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from pyproj import Transformer

from gaia_lab.errors import ProcessInputError
from gaia_lab.processing import execute, outputs
from gaia_lab.processing.common import check_query, open_cube, raster_only, spatial_dims
from gaia_lab.processing.context import ProcessContext, ProcessResult
from gaia_lab.processing.registry import Process, register
from gaia_lab.processing.schemas import DATETIME, ENTRY, VARIABLES, feature_collection, input_field

ID = "time-series"


def stations(process: str, collection: dict[str, Any], name_property: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Names, longitudes and latitudes of the points; a missing or repeated name names the feature."""
    names: list[str] = []
    lons, lats = [], []
    for index, feature in enumerate(collection["features"]):
        properties = feature.get("properties") or {}
        name = properties.get(name_property, feature.get("id"))
        if name is None:
            raise ProcessInputError(
                process, f"/points/features/{index}/properties", f"has no {name_property!r} property (nor an id)"
            )
        coordinates = feature["geometry"]["coordinates"]
        if len(coordinates) < 2 or not all(isinstance(c, int | float) for c in coordinates):
            raise ProcessInputError(process, f"/points/features/{index}/geometry/coordinates", "expected [lon, lat]")
        lon, lat = float(coordinates[0]), float(coordinates[1])
        if not (-180 <= lon <= 360 and -90 <= lat <= 90):
            raise ProcessInputError(
                process, f"/points/features/{index}/geometry/coordinates", f"({lon}, {lat}) is not a WGS 84 position"
            )
        names.append(str(name))
        lons.append(lon)
        lats.append(lat)
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ProcessInputError(process, "/points", f"point names must be unique; repeated: {repeated[:5]}")
    return names, np.array(lons), np.array(lats)


def _normalise(inputs: dict[str, Any]) -> dict[str, Any]:
    check_query(ID, inputs, ("datetime", "variables"))
    stations(ID, inputs["points"], inputs["name_property"])
    return inputs


def sample(ds: xr.Dataset, names: list[str], lons: np.ndarray, lats: np.ndarray) -> xr.Dataset:
    """The nearest cell to each point (points given in WGS 84), along a ``station`` dimension."""
    x_dim, y_dim = spatial_dims(ds)
    crs = ds.rio.crs
    if crs is not None and not crs.is_geographic:
        xs, ys = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lons, lats)
    else:
        xs, ys = lons, lats
    west, south, east, north = ds.rio.bounds()
    outside = [n for n, x, y in zip(names, xs, ys, strict=True) if not (west <= x <= east and south <= y <= north)]
    if outside:
        raise ProcessInputError(ID, "/points", f"{outside[:5]} lie outside the cube's extent {ds.rio.bounds()}")
    picked = ds.sel(
        {x_dim: xr.DataArray(xs, dims="station"), y_dim: xr.DataArray(ys, dims="station")}, method="nearest"
    )
    picked = picked.rename({x_dim: "cell_x", y_dim: "cell_y"}) if x_dim in picked.coords else picked
    return picked.assign_coords(
        station=("station", np.array(names, dtype=object)),
        longitude=("station", lons),
        latitude=("station", lats),
    )


def _dsg(series: xr.Dataset) -> xr.Dataset:
    """CF 1.8 discrete sampling geometry (featureType timeSeries): station names are the timeseries_id."""
    series = series.drop_vars("spatial_ref", errors="ignore")
    series = series.transpose("station", ...)
    series["station"].attrs.update({"cf_role": "timeseries_id", "long_name": "station name"})
    series["longitude"].attrs.update({"standard_name": "longitude", "units": "degrees_east"})
    series["latitude"].attrs.update({"standard_name": "latitude", "units": "degrees_north"})
    series = series.assign_coords(station=series["station"].astype(str))
    series.attrs.update({"featureType": "timeSeries", "Conventions": "CF-1.8"})
    return series


def to_frame(series: xr.Dataset) -> pd.DataFrame:
    """Long table: one row per station and time step."""
    frame = series.drop_vars("spatial_ref", errors="ignore").to_dataframe().reset_index()
    first = [c for c in ("station", "time", "longitude", "latitude", "cell_x", "cell_y") if c in frame.columns]
    return frame[first + [c for c in frame.columns if c not in first]]


def _execute(inputs: dict[str, Any], context: ProcessContext) -> ProcessResult:
    names, lons, lats = stations(ID, inputs["points"], inputs["name_property"])
    ds = raster_only(open_cube(ID, inputs, context, ("datetime", "variables")))
    lazy = sample(ds, names, lons, lats)
    execute.check_output_size(ID, execute.nbytes(lazy), context)
    context.progress(0.05, f"{ID}: {len(names)} points x {ds.sizes.get('time', 1)} time steps of {inputs['entry']}")
    series = execute.compute(ID, lazy, context, label="sampling")
    context.progress(0.9, f"{ID}: writing {inputs['format']}")
    if inputs["format"] == "netcdf":
        files = [outputs.write_netcdf(_dsg(series), context.output_dir / "time-series.nc")]
    else:
        files = [outputs.write_csv(to_frame(series), context.output_dir / "time-series.csv")]
    pad = 1e-6  # a bbox of one point has no area
    item = outputs.new_item(
        ID,
        context,
        bbox=[float(lons.min()) - pad, float(lats.min()) - pad, float(lons.max()) + pad, float(lats.max()) + pad],
        span=outputs.time_span(ds),
        title=f"Time series of {inputs['entry']} at {len(names)} points",
        lineage=f"nearest-cell values of {inputs['entry']} at points {names[:10]}",
        properties={"gaia:stations": names},
    )
    outputs.add_assets(item, files)
    document, path = outputs.save_item(item, context.output_dir)
    return ProcessResult(ID, files, document, path)


PROCESS = register(
    Process(
        id=ID,
        title="Time series at points",
        description="The values of an entry's variables at named points (Hydroweb-style virtual stations: GeoJSON "
        "Point features with a name) over time, from the nearest grid cell; written as CSV (one row per point and "
        "time step) or as a CF discrete-sampling-geometry NetCDF (featureType timeSeries).",
        keywords=("time series", "points", "virtual stations", "hydroweb", "extraction", "csv", "netcdf"),
        inputs={
            "entry": input_field("Entry", ENTRY, required=True),
            "points": input_field(
                "Points",
                feature_collection(["Point"], "Named points in WGS 84 (GeoJSON FeatureCollection of Points)."),
                required=True,
            ),
            "name_property": input_field(
                "Name property",
                {
                    "type": "string",
                    "minLength": 1,
                    "default": "name",
                    "description": "Feature property naming each point (falls back to the feature id).",
                },
            ),
            "datetime": input_field("Time interval", DATETIME),
            "variables": input_field("Variables", VARIABLES),
            "format": input_field(
                "Output format",
                {"type": "string", "enum": ["csv", "netcdf"], "default": "csv", "description": "csv or netcdf"},
            ),
        },
        example={
            "inputs": {
                "entry": "odatis/ostia-sst",
                "points": {
                    "type": "FeatureCollection",
                    "features": [
                        {
                            "type": "Feature",
                            "properties": {"name": "ATL-0W"},
                            "geometry": {"type": "Point", "coordinates": [0.0, 0.0]},
                        },
                        {
                            "type": "Feature",
                            "properties": {"name": "PAC-140W"},
                            "geometry": {"type": "Point", "coordinates": [-140.0, 2.0]},
                        },
                    ],
                },
                "format": "csv",
            }
        },
        execute=_execute,
        normalise=_normalise,
    )
)
