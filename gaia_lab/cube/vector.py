"""GeoParquet assets -> vector data cubes (xvec) and GeoDataFrames.

A vector cube follows xvec's convention: its first dimension is ``geometry``, whose coordinate holds the features'
shapely geometries under an xvec ``GeometryIndex`` carrying the CRS (so ``ds.xvec.query``, ``.sel(geometry=...,
method="intersects")``, ``.xvec.to_crs`` and ``.xvec.to_geodataframe`` work). A table written with a
``gaia:vector_cube`` schema metadata entry (the biodiversity hub's community tables) becomes ``geometry x species``:
its species columns form one ``abundance`` variable, its site columns stay variables along ``geometry``, its site
identifiers an indexed ``site`` coordinate. Any other GeoParquet opens with one variable per column.

Opening reads the Parquet footer and the geometry column (the coordinates of the cube, as Zarr opening reads its
coordinate arrays); the other columns are read when computed, through dask, for the selected rows only. A bbox
keeps the features that intersect it: the GeoParquet 1.1 bbox covering column lets Parquet skip row groups, then
the geometries are tested exactly.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dask.array as da
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import shapely
import xarray as xr
import xvec  # noqa: F401  (registers the .xvec accessor)
from dask.base import tokenize
from dask.delayed import delayed
from pyproj import CRS
from pyproj.exceptions import CRSError

from gaia_lab.errors import AssetError, EmptyResult, InvalidQuery
from gaia_lab.query import BBox, CubeRequest

CUBE_METADATA_KEY = b"gaia:vector_cube"
_CRS84 = CRS.from_user_input("OGC:CRS84")


@dataclass(frozen=True)
class GeoParquet:
    """What the footer of a GeoParquet file says: columns, geometry column, CRS, covering, cube layout."""

    href: str
    path: str
    filesystem: Any
    schema: pa.Schema
    geometry: str
    crs: CRS
    covering: Mapping[str, Sequence[str]] | None
    cube: Mapping[str, Any] | None
    entry_id: str | None

    @property
    def georeferenced(self) -> bool:
        return bool(self.crs.is_geographic or self.crs.is_projected)

    def error(self, message: str) -> AssetError:
        return AssetError(self.href, message, entry_id=self.entry_id)


def _filesystem(href: str, storage_options: Mapping[str, Any] | None) -> tuple[Any, str]:
    if "://" not in href or href.startswith("file://"):
        return None, href.removeprefix("file://")
    from fsspec.core import url_to_fs

    filesystem, path = url_to_fs(href, **dict(storage_options or {}))
    return filesystem, str(path)


def inspect(href: str, *, storage_options: Mapping[str, Any] | None = None, entry_id: str | None = None) -> GeoParquet:
    """Read the footer of a GeoParquet file; a file that is not one (corrupt, truncated, plain Parquet, no
    geometry column) is an AssetError naming ``href``."""
    try:
        filesystem, path = _filesystem(href, storage_options)
        schema = pq.read_schema(path, filesystem=filesystem)
    except FileNotFoundError as error:
        raise AssetError(href, f"no GeoParquet file here ({error})", entry_id=entry_id) from None
    except Exception as error:  # pyarrow (ArrowInvalid, OSError) and fsspec raise their own families
        raise AssetError(
            href, f"cannot read as Parquet (corrupt or truncated?): {type(error).__name__}: {error}", entry_id=entry_id
        ) from None
    metadata = schema.metadata or {}
    if b"geo" not in metadata:
        raise AssetError(
            href, "a Parquet file without GeoParquet 'geo' metadata: no geometry column", entry_id=entry_id
        )
    try:
        geo = json.loads(metadata[b"geo"])
        geometry = str(geo["primary_column"])
        column = geo["columns"][geometry]
        crs = _CRS84 if column.get("crs", "absent") == "absent" else CRS.from_user_input(column["crs"])
        cube = json.loads(metadata[CUBE_METADATA_KEY]) if CUBE_METADATA_KEY in metadata else None
    except (ValueError, KeyError, TypeError, CRSError) as error:
        raise AssetError(
            href, f"invalid GeoParquet metadata: {type(error).__name__}: {error}", entry_id=entry_id
        ) from None
    if crs is None:  # "crs": null means an undefined CRS in GeoParquet
        raise AssetError(href, "the geometry column's CRS is undefined (crs: null)", entry_id=entry_id)
    if geometry not in schema.names:
        raise AssetError(
            href, f"the geometry column {geometry!r} named by the 'geo' metadata is missing", entry_id=entry_id
        )
    covering = (column.get("covering") or {}).get("bbox")
    return GeoParquet(href, path, filesystem, schema, geometry, crs, covering, cube, entry_id)


def _bbox_in_crs(source: GeoParquet, bbox: BBox) -> tuple[float, float, float, float]:
    """The request's WGS84 bbox in the file's CRS; local (engineering) CRSs have no geographic reference."""
    if not source.georeferenced:
        raise InvalidQuery(
            "bbox",
            tuple(bbox),
            f"{source.entry_id or source.href} has local coordinates ({source.crs.name}) with no geographic "
            "reference: a WGS84 bbox cannot select its features; select them by site or position instead",
        )
    if source.crs.equals(_CRS84) or source.crs.to_epsg() == 4326:
        return tuple(bbox)  # type: ignore[return-value]
    from pyproj import Transformer

    transformer = Transformer.from_crs(_CRS84, source.crs, always_xy=True)
    xmin, ymin, xmax, ymax = transformer.transform_bounds(*bbox, densify_pts=21)
    return float(xmin), float(ymin), float(xmax), float(ymax)


def _covering_filter(source: GeoParquet, box: tuple[float, float, float, float]) -> pc.Expression | None:
    """Rows whose bbox covering intersects ``box`` (Parquet skips row groups by their statistics)."""
    if not source.covering:
        return None
    fields = {key: pc.field(*source.covering[key]) for key in ("xmin", "ymin", "xmax", "ymax")}
    xmin, ymin, xmax, ymax = box
    expression: pc.Expression = (
        (fields["xmax"] >= xmin) & (fields["xmin"] <= xmax) & (fields["ymax"] >= ymin) & (fields["ymin"] <= ymax)
    )
    return expression


def _read(source: GeoParquet, columns: Sequence[str], row_filter: pc.Expression | None) -> pa.Table:
    try:
        return pq.read_table(source.path, filesystem=source.filesystem, columns=list(columns), filters=row_filter)
    except Exception as error:  # the file changed, was truncated or vanished after opening
        raise source.error(f"cannot read columns {list(columns)[:5]}: {type(error).__name__}: {error}") from None


@dataclass(frozen=True)
class Selection:
    """The rows a request keeps: the Parquet filter that reads them and their positions in what it returns."""

    row_filter: pc.Expression | None
    positions: np.ndarray
    geometries: np.ndarray


def select_rows(source: GeoParquet, bbox: BBox | None) -> Selection:
    box = _bbox_in_crs(source, bbox) if bbox is not None else None
    row_filter = _covering_filter(source, box) if box is not None else None
    table = _read(source, [source.geometry], row_filter)
    try:
        geometries = shapely.from_wkb(table.column(source.geometry).to_numpy(zero_copy_only=False))
    except shapely.errors.GEOSException as error:
        raise source.error(f"invalid WKB geometries: {error}") from None
    positions = np.arange(len(geometries))
    if box is not None:
        positions = positions[shapely.intersects(geometries, shapely.box(*box))]
        if positions.size == 0:
            raise EmptyResult(
                source.entry_id or source.href, "bbox", f"{tuple(bbox or ())} contains none of the features"
            )
    return Selection(row_filter, positions, geometries[positions])


def _numpy(column: pa.ChunkedArray) -> np.ndarray:
    if pa.types.is_dictionary(column.type) or pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        return np.asarray(column.to_pylist(), dtype=object)
    values: np.ndarray = column.to_numpy()
    return values


def _dtype(field: pa.Field) -> np.dtype[Any]:
    kind = field.type
    if pa.types.is_dictionary(kind) or pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return np.dtype(object)
    return np.dtype(str(np.dtype(kind.to_pandas_dtype())))


def _rows(source: GeoParquet, columns: list[str], row_filter: pc.Expression | None, positions: np.ndarray) -> pa.Table:
    return _read(source, columns, row_filter).take(pa.array(positions))


def _column(table: pa.Table, name: str) -> np.ndarray:
    return _numpy(table.column(name))


def _matrix(table: pa.Table, names: list[str], dtype: np.dtype[Any]) -> np.ndarray:
    return np.column_stack([table.column(n).to_numpy() for n in names]).astype(dtype, copy=False)


def _lazy_columns(source: GeoParquet, selection: Selection, names: list[str], token: str) -> Any:
    """One delayed read of ``names`` for the selected rows, shared by every variable built from it."""
    return delayed(_rows, pure=True)(
        source, names, selection.row_filter, selection.positions, dask_key_name=f"geoparquet-read-{token}"
    )


def _skipped(source: GeoParquet) -> set[str]:
    skipped = {source.geometry}
    if source.covering:
        skipped |= {str(path[0]) for path in source.covering.values()}
    return skipped


def open_geoparquet(
    href: str,
    request: CubeRequest | None = None,
    *,
    entry_id: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> xr.Dataset:
    """A lazy vector data cube (xvec) from a GeoParquet file, selected as ``request`` says (bbox, variables,
    crs; a vector cube has no grid, so ``resolution`` is refused)."""
    request = request or CubeRequest.parse()
    if request.resolution is not None:
        raise InvalidQuery("resolution", request.resolution, f"{entry_id or href} is a vector cube (no grid)")
    source = inspect(href, storage_options=storage_options, entry_id=entry_id)
    selection = select_rows(source, request.bbox)
    rows = len(selection.positions)
    token = tokenize(source.href, source.schema.metadata, request.bbox, selection.positions.tobytes())
    fields = {f.name: f for f in source.schema}
    cube = source.cube or {}
    site = cube.get("site")
    species = [str(c) for c in cube.get("columns", [])]
    site_columns = [n for n in source.schema.names if n not in _skipped(source) and n != site and n not in species]
    wanted = request.variables
    if wanted:
        known = ([str(cube.get("variable", "abundance"))] if species else []) + site_columns
        missing = [v for v in wanted if v not in known]
        if missing:
            raise InvalidQuery("variables", list(wanted), f"{missing} not in {entry_id or href}; available: {known}")
    keep_species = bool(species) and (not wanted or cube.get("variable", "abundance") in wanted)
    kept_columns = [c for c in site_columns if not wanted or c in wanted]
    table = _lazy_columns(source, selection, kept_columns + (species if keep_species else []), token)
    variables: dict[str, xr.Variable] = {}
    environment = cube.get("environment", {})
    for name in kept_columns:
        dtype = _dtype(fields[name])
        data = da.from_delayed(delayed(_column, pure=True)(table, name), (rows,), dtype=dtype)
        attrs = {k: v for k, v in environment.get(name, {}).items() if v}
        variables[name] = xr.Variable(("geometry",), data, attrs)
    coords: dict[str, Any] = {"geometry": ("geometry", selection.geometries)}
    if keep_species:
        dtype = np.result_type(*[_dtype(fields[n]) for n in species])
        matrix = da.from_delayed(delayed(_matrix, pure=True)(table, species, dtype), (rows, len(species)), dtype)
        variables[str(cube.get("variable", "abundance"))] = xr.Variable(
            ("geometry", str(cube.get("dimension", "species"))), matrix, dict(cube.get("attrs", {}))
        )
        coords[str(cube.get("dimension", "species"))] = species
        for name, values in (cube.get("species_coordinates") or {}).items():
            coords[name] = (str(cube.get("dimension", "species")), list(values))
    if site:
        # site identifiers are read now, with the geometries: they label the cube's rows
        coords[site] = ("geometry", _column(_rows(source, [site], selection.row_filter, selection.positions), site))
    ds = xr.Dataset(variables, coords=coords)
    ds = ds.xvec.set_geom_indexes("geometry", crs=source.crs)
    if site:
        ds = ds.set_xindex(site)
    if request.crs is not None:
        ds = _to_crs(ds, source, request.crs)
    if request.chunks:
        unknown = sorted(set(request.chunks) - set(map(str, ds.dims)))
        if unknown:
            raise InvalidQuery("chunks", dict(request.chunks), f"{unknown} are not dimensions of {entry_id or href}")
        ds = ds.chunk(dict(request.chunks))  # one read of the selected rows, split afterwards
    ds.attrs.update({"gaia:crs": source.crs.to_string(), "gaia:vector_cube": "xvec"})
    if cube.get("crs_note"):
        ds.attrs["gaia:crs_note"] = cube["crs_note"]
    return ds


def _to_crs(ds: xr.Dataset, source: GeoParquet, crs: object) -> xr.Dataset:
    if not source.georeferenced:
        raise InvalidQuery("crs", crs, f"{source.entry_id or source.href} has local coordinates: no reprojection")
    try:
        target = CRS.from_user_input(crs)
    except CRSError as error:
        raise InvalidQuery("crs", crs, f"not a CRS: {error}") from None
    reprojected: xr.Dataset = ds.xvec.to_crs(geometry=target)
    return reprojected


def read_geodataframe(
    href: str,
    request: CubeRequest | None = None,
    *,
    entry_id: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> Any:
    """The selected rows of a GeoParquet file as a GeoDataFrame (``variables`` name columns to keep)."""
    import geopandas as gpd

    request = request or CubeRequest.parse()
    source = inspect(href, storage_options=storage_options, entry_id=entry_id)
    selection = select_rows(source, request.bbox)
    names = [n for n in source.schema.names if n not in _skipped(source)]
    if request.variables:
        missing = [v for v in request.variables if v not in names]
        if missing:
            raise InvalidQuery(
                "variables", list(request.variables), f"{missing} not in {entry_id or href}; columns: {names}"
            )
        site = (source.cube or {}).get("site")
        names = [n for n in names if n in request.variables or n == site]
    table = _rows(source, names, selection.row_filter, selection.positions)
    frame = table.to_pandas()
    result = gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(selection.geometries, crs=source.crs), crs=source.crs)
    if request.crs is not None:
        if not source.georeferenced:
            raise InvalidQuery("crs", request.crs, f"{entry_id or href} has local coordinates: no reprojection")
        result = result.to_crs(request.crs)
    return result


# Coordinate columns of a CSV table that make its rows points (WGS 84): processing results name them so.
_LON_LAT = (("longitude", "latitude"), ("lon", "lat"))


def read_csv_table(
    href: str,
    request: CubeRequest | None = None,
    *,
    entry_id: str | None = None,
    storage_options: Mapping[str, Any] | None = None,
) -> Any:
    """A CSV table: a GeoDataFrame of points when it has longitude/latitude columns (rows kept inside ``bbox``),
    else a pandas DataFrame (a table of zones, of stations without coordinates); ``variables`` name columns."""
    import fsspec
    import geopandas as gpd
    import pandas as pd

    request = request or CubeRequest.parse()
    try:
        with fsspec.open(href, "rb", **dict(storage_options or {})) as stream:
            frame = pd.read_csv(stream)
    except FileNotFoundError:
        raise AssetError(href, "no such file", entry_id=entry_id) from None
    except (OSError, ValueError) as error:
        raise AssetError(href, f"cannot read as CSV: {type(error).__name__}: {error}", entry_id=entry_id) from None
    for column in frame.columns:
        # CSV has no types: time columns (ISO 8601 text as pandas writes it) come back as datetimes
        if column == "time" or str(column).endswith("_time"):
            with contextlib.suppress(ValueError, TypeError):
                frame[column] = pd.to_datetime(frame[column], format="ISO8601")
    if request.variables:
        missing = [v for v in request.variables if v not in frame.columns]
        if missing:
            raise InvalidQuery(
                "variables", list(request.variables), f"{missing} not in {entry_id or href}; columns: {list(frame)}"
            )
    lon_lat = next(((x, y) for x, y in _LON_LAT if x in frame.columns and y in frame.columns), None)
    if lon_lat is None:
        if request.bbox is not None:
            raise InvalidQuery("bbox", tuple(request.bbox), f"{entry_id or href} has no coordinates to select by")
        return frame[list(request.variables)] if request.variables else frame
    x, y = lon_lat
    if request.bbox is not None:
        west, south, east, north = request.bbox
        inside = frame[x].between(west, east) if west <= east else (frame[x] >= west) | (frame[x] <= east)
        frame = frame[inside & frame[y].between(south, north)]
    if request.variables:
        frame = frame[[c for c in frame.columns if c in request.variables or c in lon_lat]]
    result = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame[x], frame[y]), crs="EPSG:4326")
    return result.to_crs(request.crs) if request.crs is not None else result


__all__ = ["GeoParquet", "inspect", "open_geoparquet", "read_csv_table", "read_geodataframe"]
