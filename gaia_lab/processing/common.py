"""Steps every process shares: checking the cube query inputs, opening the entry, mapping query errors to inputs."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import xarray as xr

from gaia_lab.errors import EmptyResult, InvalidQuery, ProcessInputError
from gaia_lab.processing.context import ProcessContext
from gaia_lab.query import CubeRequest

#: Inputs passed to Entry.to_xarray as they are (after checking).
QUERY_INPUTS = ("bbox", "datetime", "variables", "crs", "resolution")


@contextmanager
def input_errors(process: str, rename: Mapping[str, str] | None = None) -> Iterator[None]:
    """Turn the query parsers' InvalidQuery / EmptyResult into ProcessInputError pointing at the input."""
    try:
        yield
    except InvalidQuery as error:
        name = (rename or {}).get(error.parameter, error.parameter)
        raise ProcessInputError(process, f"/{name}", f"{error.value!r}: {error.reason}") from None
    except EmptyResult as error:
        name = (rename or {}).get(error.parameter, error.parameter)
        raise ProcessInputError(process, f"/{name}", str(error)) from None


def check_query(process: str, inputs: Mapping[str, Any], names: tuple[str, ...] = QUERY_INPUTS) -> None:
    """Parse the cube query inputs as Entry.to_xarray will (a bad CRS, datetime or bbox names the field)."""
    with input_errors(process):
        CubeRequest.parse(**{name: inputs.get(name) for name in names})


def open_cube(
    process: str, inputs: Mapping[str, Any], context: ProcessContext, names: tuple[str, ...] = QUERY_INPUTS
) -> xr.Dataset:
    """The entry as a lazy cube with the query inputs applied; EntryNotFound names an unknown id."""
    entry = context.open_catalog()[str(inputs["entry"])]
    with input_errors(process):
        ds: xr.Dataset = entry.to_xarray(**{name: inputs.get(name) for name in names})
    return ds


def spatial_dims(ds: xr.Dataset) -> tuple[str, str]:
    """(x, y) dimension names of a raster cube."""
    return str(ds.rio.x_dim), str(ds.rio.y_dim)


def raster_only(ds: xr.Dataset) -> xr.Dataset:
    """The data variables that lie on the (y, x) grid; scalar or bounds variables are dropped."""
    x, y = spatial_dims(ds)
    keep = [name for name, var in ds.data_vars.items() if x in var.dims and y in var.dims]
    return ds[keep]
