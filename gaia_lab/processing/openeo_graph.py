"""The ``openeo-graph`` process: an openEO process graph evaluated by openeo-processes-dask on the user's cluster.

openeo-processes-dask implements the openEO processes on xarray/Dask and openeo-pg-parser-networkx walks a graph
into one Python callable; this module supplies what a back end must: ``load_collection`` (an entry of the GAIA Lab
federation, opened as a lazy cube), ``save_result`` (recorded, then computed and written like every process's
results) and a check of the graph before anything runs, so a bad graph fails with a typed error naming the node
rather than deep in a dependency. Walking the graph only builds the lazy cube; its pixels are computed by
:func:`gaia_lab.processing.execute.compute` on the run's Dask client (the user's Gateway cluster in a job), with
its progress, cancellation and limits.

The graph runtime (openeo-pg-parser-networkx and the implementations' dependencies) is installed by
scripts/install-openeo-runtime.sh; workers need none of it (the tasks are xarray/dask/numpy functions).
"""

from __future__ import annotations

import importlib
import inspect
import json
import logging
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

import dask.base
import numpy as np
import xarray as xr

from gaia_lab.errors import GaiaLabError, InvalidQuery, ProcessError, ProcessInputError
from gaia_lab.processing import execute, outputs
from gaia_lab.processing.context import OutputFile, ProcessContext, ProcessResult
from gaia_lab.processing.registry import Process, register
from gaia_lab.processing.schemas import input_field

if TYPE_CHECKING:
    from gaia_lab.catalog import Catalog

ID = "openeo-graph"

# openEO's conventional dimension names; the openeo client assumes them (reduce_dimension(dimension="t"), ...).
_TO_OPENEO = {"time": "t", "latitude": "y", "lat": "y", "longitude": "x", "lon": "x"}

# save_result formats (openEO names, case-insensitive) -> file suffix.
FORMATS = {"netcdf": ".nc", "nc": ".nc", "gtiff": ".tif", "geotiff": ".tif", "json": ".json"}

JSON_MEDIA_TYPE = "application/json"

GRAPH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "minProperties": 1,
    "description": "An openEO process graph: its flat node map ({node id: {process_id, arguments, result}}), or an "
    "openEO process ({'process_graph': {...}}) as the openeo client's flat_graph() / to_json() give it. "
    "load_collection takes a GAIA Lab entry id ('<provider>/<id>'); the cube's dimensions are t, y, x, bands.",
}


class GraphError(ProcessInputError):
    """A process graph that cannot run here; ``node`` names the node (pointer ``/process_graph/<node>``)."""

    def __init__(self, node: str, reason: str) -> None:
        super().__init__(ID, f"/process_graph/{node}", reason)
        self.node = node


@dataclass(frozen=True)
class SavedResult:
    """What a save_result node asked for: its (lazy) data and file suffix."""

    data: Any
    suffix: str


def flat_graph(graph: Mapping[str, Any]) -> dict[str, Any]:
    """The flat node map of ``graph``, given as nodes, as an openEO process or as a /result request body."""
    if isinstance(graph.get("process"), Mapping):
        graph = graph["process"]
    if isinstance(graph.get("process_graph"), Mapping):
        graph = graph["process_graph"]
    nodes = dict(graph)
    if not nodes:
        raise ProcessInputError(ID, "/process_graph", "the process graph has no nodes")
    for node_id, node in nodes.items():
        if not isinstance(node, Mapping) or not isinstance(node.get("process_id"), str):
            raise GraphError(node_id, "each node needs a 'process_id' string and an 'arguments' object")
    if not any(node.get("result") for node in nodes.values()):
        raise ProcessInputError(ID, "/process_graph", "no node is marked as the result ('result': true)")
    return nodes


def _iter_nodes(nodes: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every node, callbacks included (a reducer's own graph sits in an argument)."""
    for node_id, node in nodes.items():
        yield node_id, node
        arguments = node.get("arguments") or {}
        for argument in arguments.values() if isinstance(arguments, Mapping) else ():
            if isinstance(argument, Mapping) and isinstance(argument.get("process_graph"), Mapping):
                yield from _iter_nodes(argument["process_graph"])


def _import_runtime() -> tuple[Any, Any]:
    """openeo-processes-dask's implementations and specs modules (the pg parser imported too)."""
    # The package logs a warning for its optional ML processes; they are not offered here.
    logging.getLogger("openeo_processes_dask").setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            # Upstream noise at import, nothing a caller can act on: the specs module leaves its JSON files for the
            # garbage collector, the parser's models use pydantic 1's class Config, load_stac imports the
            # deprecated stac_validator.
            warnings.simplefilter("ignore", ResourceWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            specs = importlib.import_module("openeo_processes_dask.specs")
            implementations = importlib.import_module("openeo_processes_dask.process_implementations")
            importlib.import_module("openeo_pg_parser_networkx")
    except ImportError as error:
        raise ProcessError(
            ID, f"the openEO graph runtime is not installed ({error}); run scripts/install-openeo-runtime.sh"
        ) from None
    return implementations, specs


@cache
def _standard_processes() -> dict[str, tuple[dict[str, Any], Callable[..., Any]]]:
    """openeo-processes-dask's implementations with their openEO specs, by process id (imported once)."""
    implementations, specs = _import_runtime()
    found: dict[str, tuple[dict[str, Any], Callable[..., Any]]] = {}
    # Processes named like Python builtins or keywords (max, and, ...) carry a leading underscore in both modules.
    for name, function in inspect.getmembers(implementations, inspect.isfunction):
        spec = getattr(specs, name, None)
        if isinstance(spec, dict) and isinstance(spec.get("id"), str):
            found[spec["id"]] = (spec, function)
    return found


def process_ids() -> list[str]:
    """The openEO processes a graph may use here."""
    return sorted({*_standard_processes(), "load_collection", "save_result"})


def process_specs() -> list[dict[str, Any]]:
    """The openEO process descriptions (an openEO API's /processes)."""
    _, specs = _import_runtime()
    described = [spec for spec, _ in _standard_processes().values()]
    described += [getattr(specs, name) for name in ("load_collection", "save_result")]
    return sorted(described, key=lambda spec: str(spec.get("id")))


def check_graph(nodes: Mapping[str, Any], catalog: Catalog) -> None:
    """Refuse, before anything runs, a graph using a process not offered here or a collection not in ``catalog``."""
    known = set(process_ids())
    for node_id, node in _iter_nodes(nodes):
        process_id = node["process_id"]
        if process_id not in known:
            raise GraphError(node_id, f"openEO process {process_id!r} is not available here")
        if process_id == "load_collection":
            collection = (node.get("arguments") or {}).get("id")
            if not isinstance(collection, str):
                raise GraphError(node_id, "load_collection needs an 'id' string: a GAIA Lab entry id")
            catalog[collection]  # raises EntryNotFound naming the id


def _bbox(extent: Any) -> tuple[float, float, float, float] | None:
    """A lon/lat bbox from openEO's spatial_extent (the parser's BoundingBox), reprojected when given in a CRS."""
    if extent is None:
        return None
    west, south, east, north = (float(extent.west), float(extent.south), float(extent.east), float(extent.north))
    crs = getattr(extent, "crs", None)
    if crs is not None:
        import pyproj

        source = pyproj.CRS.from_user_input(crs)
        if not source.equals(pyproj.CRS.from_epsg(4326)):
            transformer = pyproj.Transformer.from_crs(source, 4326, always_xy=True)
            west, south, east, north = transformer.transform_bounds(west, south, east, north)
    return (west, south, east, north)


def _datetime(extent: Any) -> str | None:
    """An ISO interval from openEO's temporal_extent (two instants, either open); openEO's end is exclusive."""
    if extent is None:
        return None
    bounds = [getattr(bound, "root", bound) for bound in (extent.root if hasattr(extent, "root") else extent)]
    if len(bounds) != 2:
        raise InvalidQuery("temporal_extent", bounds, "an openEO temporal extent has two instants (start, end)")
    start, end = bounds
    if start is None and end is None:
        return None
    return f"{_iso(start) if start is not None else '..'}/{_iso(end, exclusive=True) if end is not None else '..'}"


def _iso(instant: Any, *, exclusive: bool = False) -> str:
    import pandas as pd

    stamp = pd.Timestamp(str(instant))
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    if exclusive:
        # GAIA Lab's datetime intervals are closed: stop one microsecond before openEO's exclusive end.
        stamp = stamp - pd.Timedelta(microseconds=1)
    return str(stamp.isoformat())


def to_openeo_cube(ds: xr.Dataset) -> xr.DataArray:
    """A Dataset as openEO's raster cube: one DataArray with a ``bands`` dimension and dims named t, y, x."""
    variables = [name for name in ds.data_vars if ds[name].ndim >= 2]
    if not variables:
        raise InvalidQuery("load_collection", list(ds.data_vars), "the entry has no gridded variable")
    crs = ds.rio.crs
    cube = ds[variables].to_dataarray(dim="bands")
    cube = cube.rename({dim: _TO_OPENEO[str(dim)] for dim in cube.dims if str(dim) in _TO_OPENEO})
    if crs is not None:
        cube = cube.rio.write_crs(crs)
    return cube


def to_result_cube(data: xr.DataArray) -> xr.Dataset:
    """An openEO cube back as a GAIA Lab cube: one variable per band, time/latitude/longitude names in lon/lat."""
    crs = data.rio.crs
    geographic = crs is None or crs.is_geographic
    names = {"t": "time", **({"y": "latitude", "x": "longitude"} if geographic else {})}
    data = data.rename({dim: names[str(dim)] for dim in data.dims if str(dim) in names})
    data.attrs = {k: v for k, v in data.attrs.items() if isinstance(v, str | int | float)}
    if "bands" in data.dims:
        ds = data.to_dataset(dim="bands")
        ds = ds.rename({name: str(name) for name in ds.data_vars})
    else:
        ds = data.to_dataset(name=str(data.name) if data.name is not None else "result")
    if crs is not None:
        ds = ds.rio.write_crs(crs)
    return ds


def build_registry(catalog: Catalog, saved: list[SavedResult]) -> Any:
    """A pg-parser process registry: openeo-processes-dask's processes, plus load_collection and save_result here."""
    from openeo_pg_parser_networkx import ProcessRegistry
    from openeo_pg_parser_networkx.process_registry import Process as GraphProcess
    from openeo_processes_dask.process_implementations.core import process

    _, specs = _import_runtime()
    registry = ProcessRegistry(wrap_funcs=[process])
    for name, (spec, function) in _standard_processes().items():
        registry[name] = GraphProcess(spec=spec, implementation=function)

    def load_collection(
        id: str,  # openEO's parameter name
        spatial_extent: Any = None,
        temporal_extent: Any = None,
        bands: list[str] | None = None,
        properties: Any = None,
        **_: Any,
    ) -> xr.DataArray:
        ds = catalog[id].to_xarray(bbox=_bbox(spatial_extent), datetime=_datetime(temporal_extent), variables=bands)
        return to_openeo_cube(ds)

    def save_result(data: Any, format: str = "netcdf", options: Any = None, **_: Any) -> bool:
        suffix = FORMATS.get(str(format).lower())
        if suffix is None:
            raise InvalidQuery("format", format, f"save_result writes one of {sorted(set(FORMATS))}")
        if suffix != ".json" and not isinstance(data, xr.DataArray):
            raise InvalidQuery("format", format, f"only a raster cube can be saved as {format}, not a value")
        saved.append(SavedResult(data, suffix))
        return True

    registry["load_collection"] = GraphProcess(spec=specs.load_collection, implementation=load_collection)
    registry["save_result"] = GraphProcess(spec=specs.save_result, implementation=save_result)
    return registry


def lazy_results(graph: Mapping[str, Any], catalog: Catalog) -> list[SavedResult]:
    """Walk ``graph`` into lazy results (nothing computed): its save_result nodes', else its result node's value."""
    from openeo_pg_parser_networkx import OpenEOProcessGraph

    nodes = flat_graph(graph)
    check_graph(nodes, catalog)
    saved: list[SavedResult] = []
    registry = build_registry(catalog, saved)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # pydantic 1-style models in the parser, upstream
            parsed = OpenEOProcessGraph(pg_data={"process_graph": nodes})
        value = parsed.to_callable(process_registry=registry)()
    except GaiaLabError:
        raise
    except Exception as error:  # the implementations raise bare Exceptions: say the graph failed and why
        raise GraphError(_result_node(nodes), f"{type(error).__name__}: {error}") from error
    if not saved:
        saved.append(SavedResult(value, ".nc" if isinstance(value, xr.DataArray) else ".json"))
    return saved


def _result_node(nodes: Mapping[str, Any]) -> str:
    return next((node_id for node_id, node in nodes.items() if node.get("result")), next(iter(nodes)))


def _normalise(inputs: dict[str, Any]) -> dict[str, Any]:
    return {**inputs, "process_graph": flat_graph(inputs["process_graph"])}


def _json_value(value: Any) -> Any:
    if isinstance(value, xr.DataArray):
        return value.values.tolist()
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    return value


def _execute(inputs: dict[str, Any], context: ProcessContext) -> ProcessResult:
    catalog = context.open_catalog()
    try:
        saved = lazy_results(inputs["process_graph"], catalog)
    except InvalidQuery as error:  # a bad argument inside the graph (extent, format, ...)
        raise GraphError(_result_node(inputs["process_graph"]), f"{error.parameter}: {error.reason}") from None
    files: list[OutputFile] = []
    cubes: list[xr.Dataset] = []
    for index, result in enumerate(saved):
        span = (0.05 + 0.85 * index / len(saved), 0.05 + 0.85 * (index + 1) / len(saved))
        path = context.output_dir / f"result-{index}{result.suffix}" if len(saved) > 1 else None
        if result.suffix == ".json":
            value = result.data
            if isinstance(value, xr.DataArray) or dask.base.is_dask_collection(value):
                value = execute.compute(ID, value, context, span=span)
            path = path or context.output_dir / "result.json"
            path.write_text(json.dumps(_json_value(value), default=str))
            files.append(OutputFile(path, JSON_MEDIA_TYPE, path.stem))
            continue
        lazy = to_result_cube(result.data)
        execute.check_output_size(ID, execute.nbytes(lazy), context)
        cube = execute.compute(ID, lazy, context, span=span, label="openEO graph")
        cubes.append(cube)
        if result.suffix == ".tif":
            for name in cube.data_vars:
                if cube[name].ndim > 3:
                    raise GraphError(_result_node(inputs["process_graph"]), "GTiff takes at most 3 dimensions")
                target = context.output_dir / f"{name}{'-' + str(index) if len(saved) > 1 else ''}.tif"
                files.append(outputs.write_cog(cube[name], target, str(name)))
        else:
            files.append(outputs.write_netcdf(cube, path or context.output_dir / "result.nc"))
    used = sorted({node["process_id"] for _, node in _iter_nodes(inputs["process_graph"])})
    lineage = f"openEO process graph ({', '.join(used)})"
    if cubes:
        item = outputs.cube_item(ID, context, cubes[0], files, title="openEO process graph result", lineage=lineage)
    else:
        whole_earth = [-180.0, -90.0, 180.0, 90.0]  # a value has no footprint of its own
        item = outputs.new_item(ID, context, bbox=whole_earth, span=None, title="openEO value", lineage=lineage)
        outputs.add_assets(item, files)
    document, item_path = outputs.save_item(item, context.output_dir)
    return ProcessResult(ID, files, document, item_path)


EXAMPLE_GRAPH: dict[str, Any] = {
    "load": {
        "process_id": "load_collection",
        "arguments": {"id": "odatis/ostia-sst-monthly", "temporal_extent": ["2007-01-01", "2007-04-01"]},
    },
    "bbox": {
        "process_id": "filter_bbox",
        "arguments": {"data": {"from_node": "load"}, "extent": {"west": -10, "south": -2, "east": 10, "north": 2}},
    },
    "mean": {
        "process_id": "reduce_dimension",
        "arguments": {
            "data": {"from_node": "bbox"},
            "dimension": "t",
            "reducer": {
                "process_graph": {
                    "mean1": {"process_id": "mean", "arguments": {"data": {"from_parameter": "data"}}, "result": True}
                }
            },
        },
    },
    "save": {
        "process_id": "save_result",
        "arguments": {"data": {"from_node": "mean"}, "format": "GTiff"},
        "result": True,
    },
}

PROCESS = register(
    Process(
        id=ID,
        title="openEO process graph",
        description="Evaluate an openEO process graph (openeo-processes-dask's implementations of the openEO "
        "processes) on the user's Dask cluster. load_collection opens a GAIA Lab entry as a lazy cube with "
        "dimensions t, y, x, bands; save_result writes NetCDF, GTiff (one COG per band) or JSON.",
        keywords=("openEO", "process graph", "datacube"),
        inputs={"process_graph": input_field("openEO process graph", GRAPH_SCHEMA, required=True)},
        example={"inputs": {"process_graph": EXAMPLE_GRAPH}},
        execute=_execute,
        normalise=_normalise,
        entry_inputs=(),
    )
)

__all__ = [
    "FORMATS",
    "GRAPH_SCHEMA",
    "ID",
    "PROCESS",
    "GraphError",
    "SavedResult",
    "build_registry",
    "check_graph",
    "flat_graph",
    "lazy_results",
    "process_ids",
    "process_specs",
    "to_openeo_cube",
    "to_result_cube",
]
