"""The ``openeo-graph`` process: an openEO process graph evaluated by openeo-processes-dask on the caller's cluster.

openeo-processes-dask implements the openEO processes on xarray/Dask and openeo-pg-parser-networkx walks a graph
into one Python callable; this module supplies what a back end must: ``load_collection`` (an entry of the GAIA Lab
federation, opened as a lazy cube), ``save_result`` (a file in the job's output directory) and a check of the graph
before anything runs, so a bad graph fails with a typed error naming the node rather than deep in a dependency.
The graph is built lazily here; its pixels are computed wherever the active Dask client lives (the user's Gateway
cluster in a job), when ``save_result`` writes.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import xarray as xr

from gaia_lab.errors import EntryNotFound, GaiaLabError, InvalidQuery

if TYPE_CHECKING:
    from gaia_lab.catalog import Catalog

PROCESS_ID = "openeo-graph"

# openEO's conventional dimension names; the openeo client assumes them (reduce_dimension(dimension="t"), ...).
_DIM_NAMES = {"time": "t", "latitude": "y", "lat": "y", "longitude": "x", "lon": "x"}

# save_result formats (openEO names, case-insensitive) -> file suffix.
FORMATS = {"netcdf": ".nc", "nc": ".nc", "gtiff": ".tif", "geotiff": ".tif", "json": ".json"}

MEDIA_TYPES = {".nc": "application/x-netcdf", ".tif": "image/tiff; application=geotiff", ".json": "application/json"}

INPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["process_graph"],
    "properties": {
        "process_graph": {
            "type": "object",
            "description": "An openEO process graph: the flat node map, or an openEO process ({'process_graph': ...}).",
            "minProperties": 1,
        },
    },
    "additionalProperties": False,
}

OUTPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "The files written by the graph's save_result nodes (NetCDF, GeoTIFF or JSON).",
}


class GraphError(InvalidQuery):
    """A process graph that cannot run here: names the node and the openEO process."""

    def __init__(self, node: str, reason: str) -> None:
        super().__init__("process_graph", node, reason)
        self.node = node


@dataclass
class GraphResult:
    """What a graph produced: the files of its save_result nodes, in the order they were written."""

    files: list[Path] = field(default_factory=list)


def flat_graph(graph: Mapping[str, Any]) -> dict[str, Any]:
    """The flat node map of ``graph``, given as nodes, as an openEO process or as a /result request body."""
    if "process" in graph and isinstance(graph["process"], Mapping):
        graph = graph["process"]
    if "process_graph" in graph and isinstance(graph["process_graph"], Mapping):
        graph = graph["process_graph"]
    nodes = dict(graph)
    if not nodes:
        raise InvalidQuery("process_graph", graph, "the process graph has no nodes")
    for node_id, node in nodes.items():
        if not isinstance(node, Mapping) or not isinstance(node.get("process_id"), str):
            raise GraphError(node_id, "each node needs a 'process_id' string and an 'arguments' object")
    if not any(node.get("result") for node in nodes.values()):
        raise GraphError(next(iter(nodes)), "no node is marked as the result ('result': true)")
    return nodes


def _iter_nodes(nodes: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every node, callbacks included (a reducer's own graph sits in an argument)."""
    for node_id, node in nodes.items():
        yield node_id, node
        for argument in node.get("arguments", {}).values():
            if isinstance(argument, Mapping) and isinstance(argument.get("process_graph"), Mapping):
                yield from _iter_nodes(argument["process_graph"])


@cache
def _standard_processes() -> dict[str, tuple[dict[str, Any], Callable[..., Any]]]:
    """openeo-processes-dask's implementations with their openEO specs, by process id (imported once)."""
    # The package logs a warning for its optional ML processes; they are not offered here.
    logging.getLogger("openeo_processes_dask").setLevel(logging.ERROR)
    with warnings.catch_warnings():
        # Upstream noise at import, nothing a caller can act on: the specs module leaves its JSON files for the
        # garbage collector, the parser's models use pydantic 1's class Config, load_stac imports the deprecated
        # stac_validator.
        warnings.simplefilter("ignore", ResourceWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        specs = importlib.import_module("openeo_processes_dask.specs")
        implementations = importlib.import_module("openeo_processes_dask.process_implementations")
        importlib.import_module("openeo_pg_parser_networkx")
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
    """The openEO process descriptions (for an openEO API's /processes)."""
    specs = importlib.import_module("openeo_processes_dask.specs")
    described = [spec for spec, _ in _standard_processes().values()]
    for name in ("load_collection", "save_result"):
        spec = getattr(specs, name, None)
        if isinstance(spec, dict):
            described.append(spec)
    return sorted(described, key=lambda spec: str(spec.get("id")))


def check_graph(nodes: Mapping[str, Any], catalog: Catalog) -> None:
    """Refuse, before anything runs, a graph using a process not offered here or a collection not in ``catalog``."""
    known = set(process_ids())
    for node_id, node in _iter_nodes(nodes):
        process_id = node["process_id"]
        if process_id not in known:
            raise GraphError(node_id, f"openEO process {process_id!r} is not available here (see process_ids())")
        if process_id == "load_collection":
            collection = node.get("arguments", {}).get("id")
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
    """An ISO interval from openEO's temporal_extent (two instants, either open); the end is exclusive in openEO."""
    if extent is None:
        return None
    bounds = list(extent.root) if hasattr(extent, "root") else list(extent)
    if len(bounds) != 2:
        raise InvalidQuery("temporal_extent", bounds, "an openEO temporal extent has two instants (start, end)")
    start, end = (None if b is None or getattr(b, "root", b) is None else getattr(b, "root", b) for b in bounds)
    if start is None and end is None:
        return None
    return f"{_iso(start) if start is not None else '..'}/{_iso(end, exclusive=True) if end is not None else '..'}"


def _iso(instant: Any, *, exclusive: bool = False) -> str:
    import pandas as pd

    stamp = pd.Timestamp(str(instant))
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    if exclusive:
        # openEO's end is exclusive, GAIA Lab's datetime intervals are closed: stop one microsecond before.
        stamp = stamp - pd.Timedelta(microseconds=1)
    return str(stamp.isoformat())


def to_openeo_cube(ds: xr.Dataset) -> xr.DataArray:
    """A Dataset as openEO's raster cube: one DataArray with a ``bands`` dimension and dims named t, y, x."""
    variables = [name for name in ds.data_vars if ds[name].ndim >= 2]
    if not variables:
        raise InvalidQuery("load_collection", list(ds.data_vars), "the entry has no gridded variable")
    cube = ds[variables].to_dataarray(dim="bands")
    cube = cube.rename({dim: _DIM_NAMES[str(dim)] for dim in cube.dims if str(dim) in _DIM_NAMES})
    crs = ds.rio.crs
    if crs is not None:
        cube = cube.rio.write_crs(crs)
    return cube.rio.set_spatial_dims(x_dim="x", y_dim="y") if {"x", "y"} <= set(cube.dims) else cube


def _write(data: Any, path: Path) -> None:
    """One save_result file; computing it is what runs the graph on the active Dask client."""
    if path.suffix == ".json":
        import json

        values = data.values.tolist() if isinstance(data, xr.DataArray) else data
        path.write_text(json.dumps(values, default=str))
        return
    if not isinstance(data, xr.DataArray):
        raise InvalidQuery("save_result", type(data).__name__, "only a raster cube can be saved as NetCDF or GeoTIFF")
    if path.suffix == ".tif":
        if data.ndim > 3:
            raise InvalidQuery("save_result", data.dims, "GTiff takes at most 3 dimensions; reduce the cube first")
        data.rio.to_raster(path)
        return
    # NetCDF attributes cannot hold the dicts openeo-processes-dask leaves in attrs (reduced dimension minima).
    plain = data.copy()
    plain.attrs = {k: v for k, v in data.attrs.items() if isinstance(v, str | int | float)}
    name = str(data.name) if data.name is not None else "result"
    plain.to_dataset(name=name).to_netcdf(path)


def build_registry(catalog: Catalog, output_dir: Path, result: GraphResult) -> Any:
    """A pg-parser process registry: openeo-processes-dask's processes, plus load_collection and save_result here."""
    from openeo_pg_parser_networkx import ProcessRegistry
    from openeo_pg_parser_networkx.process_registry import Process
    from openeo_processes_dask.process_implementations.core import process

    specs = importlib.import_module("openeo_processes_dask.specs")
    registry = ProcessRegistry(wrap_funcs=[process])
    for name, (spec, function) in _standard_processes().items():
        registry[name] = Process(spec=spec, implementation=function)

    def load_collection(
        id: str,  # noqa: A002  (openEO's parameter name)
        spatial_extent: Any = None,
        temporal_extent: Any = None,
        bands: list[str] | None = None,
        properties: Any = None,
        **_: Any,
    ) -> xr.DataArray:
        entry = catalog[id]
        ds = entry.to_xarray(bbox=_bbox(spatial_extent), datetime=_datetime(temporal_extent), variables=bands)
        return to_openeo_cube(ds)

    def save_result(data: Any, format: str = "netcdf", options: Any = None, **_: Any) -> bool:  # noqa: A002
        suffix = FORMATS.get(str(format).lower())
        if suffix is None:
            raise InvalidQuery("format", format, f"save_result writes one of {sorted(FORMATS)}")
        path = output_dir / f"result-{len(result.files)}{suffix}"
        _write(data, path)
        result.files.append(path)
        return True

    registry["load_collection"] = Process(spec=specs.load_collection, implementation=load_collection)
    registry["save_result"] = Process(spec=specs.save_result, implementation=save_result)
    return registry


def evaluate_graph(graph: Mapping[str, Any], *, catalog: Catalog, output_dir: Path) -> GraphResult:
    """Run ``graph`` (its pixels on the active Dask client) and return the files its save_result nodes wrote.

    A graph without save_result writes its result node's value as NetCDF (a cube) or JSON (anything else).
    """
    from openeo_pg_parser_networkx import OpenEOProcessGraph

    nodes = flat_graph(graph)
    check_graph(nodes, catalog)
    output_dir.mkdir(parents=True, exist_ok=True)
    result = GraphResult()
    registry = build_registry(catalog, output_dir, result)
    try:
        parsed = OpenEOProcessGraph(pg_data={"process_graph": nodes})
        value = parsed.to_callable(process_registry=registry)()
    except GaiaLabError:
        raise
    except Exception as error:  # the implementations raise bare Exceptions; say which graph failed and why
        raise GraphError(_failing_node(nodes), f"{type(error).__name__}: {error}") from error
    if not result.files:
        suffix = ".nc" if isinstance(value, xr.DataArray) else ".json"
        path = output_dir / f"result-0{suffix}"
        _write(value, path)
        result.files.append(path)
    return result


def _failing_node(nodes: Mapping[str, Any]) -> str:
    return next((node_id for node_id, node in nodes.items() if node.get("result")), next(iter(nodes)))


__all__ = [
    "FORMATS",
    "INPUT_SCHEMA",
    "MEDIA_TYPES",
    "OUTPUT_SCHEMA",
    "PROCESS_ID",
    "EntryNotFound",
    "GraphError",
    "GraphResult",
    "build_registry",
    "check_graph",
    "evaluate_graph",
    "flat_graph",
    "process_ids",
    "process_specs",
    "to_openeo_cube",
]
