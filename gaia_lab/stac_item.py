"""The STAC item model shared by search (``catalog``) and opening (``cube``), and the rules that read STAC metadata.

Every rule that decides what an item *is* lives here and nowhere else: its footprint (2-D or 3-D ``bbox``,
antimeridian), its time span, which assets hold data and in which format (media type, else file extension), the
grid of each asset (projection extension, asset fields over item fields) and which assets GAIA Lab opens by default.

An item is read once from its JSON into a :class:`StacItem`. Building a ``pystac.Item`` costs about 0.3 ms (a deep
copy and a migration of the whole document), which dominates searches and opens of thousands of items; the record
keeps the JSON for the rare steps that need pystac (odc-stac parses one template item per grid).
"""

from __future__ import annotations

import datetime as dt
import os
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeGuard
from urllib.parse import urljoin

import orjson
import pystac

from gaia_lab.query import BBox, Interval, interval_from_stac, parse_timestamp

# Media types, lower case, parameters stripped. GeoTIFF and COG share theirs (COG adds a profile parameter).
GEOTIFF_TYPES = frozenset({"image/tiff", "image/geotiff", "image/vnd.stac.geotiff"})
JPEG2000_TYPES = frozenset({"image/jp2", "image/jpx"})
ZARR_TYPES = frozenset({"application/vnd+zarr", "application/vnd.zarr", "application/x-zarr", "application/zarr"})
NETCDF_TYPES = frozenset({"application/netcdf", "application/x-netcdf"})
CSV_TYPES = frozenset({"text/csv", "application/csv"})
# GeoParquet has no media type of its own yet: STAC (and stac-geoparquet) use Parquet's.
GEOPARQUET_TYPES = frozenset({"application/vnd.apache.parquet", "application/x-parquet", "application/parquet"})
#: An OPeNDAP endpoint (not a file: a DAP server answers ``<href>.dds``, ``.das``, ``.dods?<constraint>``). STAC has
#: no registered type for it: GAIA Lab publishes ``application/vnd.opendap.dap2`` with roles ``["data", "opendap"]``
#: and recognises the ``opendap`` role with any type, or any ``application/vnd.opendap.*`` type.
OPENDAP_TYPE = "application/vnd.opendap.dap2"
OPENDAP_ROLE = "opendap"
_EXTENSIONS = {
    ".tif": "geotiff",
    ".tiff": "geotiff",
    ".jp2": "jp2",
    ".j2k": "jp2",
    ".zarr": "zarr",
    ".nc": "netcdf",
    ".parquet": "geoparquet",
    ".geoparquet": "geoparquet",
    ".csv": "csv",
}

#: Formats a raster cube reads tile by tile through GDAL (rasterio's wheels read JPEG2000 with OpenJPEG).
RASTER_FORMATS = frozenset({"cog", "geotiff", "jp2"})
#: Roles of assets that describe or preview data rather than hold it; never opened unless asked for by name.
PREVIEW_ROLES = frozenset({"thumbnail", "overview", "visual", "metadata"})

PROJ_CRS_KEYS = ("proj:code", "proj:epsg", "proj:wkt2", "proj:projjson")
PROJ_KEYS = (*PROJ_CRS_KEYS, "proj:shape", "proj:transform", "proj:bbox")


def asset_format(asset: Mapping[str, Any]) -> str | None:
    """``cog``, ``geotiff``, ``jp2``, ``zarr``, ``netcdf``, ``opendap``, ``geoparquet``, ``csv``, or ``None`` for
    anything else (JSON, XML, PNG ...).

    The ``opendap`` role, else the media type decides; without one, the href's extension does (or a ``zarr`` role)."""
    media_type = str(asset.get("type") or "").lower()
    if OPENDAP_ROLE in (asset.get("roles") or ()) or media_type.startswith("application/vnd.opendap"):
        return "opendap"
    if media_type:
        base, _, parameters = media_type.partition(";")
        base = base.strip()
        if base in GEOTIFF_TYPES:
            return "cog" if "cloud-optimized" in parameters else "geotiff"
        if base in JPEG2000_TYPES:
            return "jp2"
        if base in ZARR_TYPES:
            return "zarr"
        if base in NETCDF_TYPES:
            return "netcdf"
        if base in GEOPARQUET_TYPES:
            return "geoparquet"
        if base in CSV_TYPES:
            return "csv"
        return None
    if "zarr" in (asset.get("roles") or ()):
        return "zarr"
    path = str(asset.get("href", "")).split("?", 1)[0].rstrip("/").lower()
    return _EXTENSIONS.get(posixpath.splitext(path)[1])


def is_data(asset: Mapping[str, Any]) -> bool:
    """Role ``data``, or no role at all (many catalogues give none)."""
    roles = asset.get("roles")
    return not roles or "data" in roles


def is_preview(asset: Mapping[str, Any]) -> bool:
    return bool(PREVIEW_ROLES.intersection(asset.get("roles") or ())) and not is_data(asset)


def band_count(asset: Mapping[str, Any]) -> int:
    bands = asset.get("raster:bands") or asset.get("bands") or ()
    return max(1, len(bands))


def formats_of(assets: Sequence[Mapping[str, Any]]) -> list[str]:
    """The distinct formats of some assets, in order of appearance."""
    return list(dict.fromkeys(f for f in map(asset_format, assets) if f is not None))


def zarr_asset(assets: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The key of the Zarr store holding a collection's or item's data, if it has one."""
    return next(
        (
            key
            for key, asset in assets.items()
            if asset_format(asset) == "zarr" and (is_data(asset) or "zarr" in asset["roles"])
        ),
        None,
    )


def geoparquet_asset(assets: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The key of the GeoParquet table holding a collection's or item's data (vector data), if it has one."""
    return next(
        (key for key, asset in assets.items() if asset_format(asset) == "geoparquet" and is_data(asset)),
        None,
    )


#: The role of a collection asset holding the collection's items as a stac-geoparquet table (as the Planetary
#: Computer's ``geoparquet-items`` assets): an item index, not data.
INDEX_ROLE = "stac-items"


def index_asset(assets: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The key of the asset holding a collection's items as stac-geoparquet (role ``stac-items``), if it has one
    that GAIA Lab reads: a local file. An index elsewhere (``abfs://``, ``https://``: the Planetary Computer's need
    credentials of their own) is left alone, and the collection's items are read as before."""
    for key, asset in assets.items():
        media_type = str(asset.get("type") or "").split(";", 1)[0].strip().lower()
        href = str(asset.get("href") or "")
        local = "://" not in href or href.startswith("file://")
        if INDEX_ROLE in (asset.get("roles") or ()) and (not media_type or media_type in GEOPARQUET_TYPES) and local:
            return key
    return None


def table_asset(assets: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The key of the table holding an item's data: its GeoParquet asset, else a CSV one (processing results)."""
    return geoparquet_asset(assets) or next(
        (key for key, asset in assets.items() if asset_format(asset) == "csv" and is_data(asset)), None
    )


def netcdf_asset(assets: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The key of a NetCDF file holding an item's data, if it has one."""
    return next((key for key, asset in assets.items() if asset_format(asset) == "netcdf" and is_data(asset)), None)


def opendap_asset(assets: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The key of the OPeNDAP endpoint holding a collection's or item's data, if it has one."""
    return next((key for key, asset in assets.items() if asset_format(asset) == "opendap" and is_data(asset)), None)


def absolute_href(href: str, base: str | None) -> str:
    """``href`` resolved against the document it appeared in (a local path or a URL)."""
    # String tests rather than urlparse: this runs for every asset of every item of a collection.
    if not base or "://" in href or href.startswith("/"):
        return href
    if "://" in base and not base.startswith("file://"):
        scheme, _, rest = base.partition("://")
        if scheme in ("http", "https"):
            return urljoin(base, href)
        # urljoin leaves hrefs relative under schemes it does not know (s3, gs, az): join the paths
        return f"{scheme}://{posixpath.normpath(posixpath.join(posixpath.dirname(rest), href))}"
    directory = posixpath.dirname(base.removeprefix("file://"))
    if not directory.startswith("/"):
        directory = os.path.abspath(directory)
    joined = posixpath.join(directory, href)
    return posixpath.normpath(joined) if "./" in href else joined


@dataclass(frozen=True, slots=True)
class Grid:
    """Where an asset's pixels lie: enough to place it in a cube without opening the file."""

    crs: str
    shape: tuple[int, int]
    transform: tuple[float, ...]


@dataclass(frozen=True)
class StacItem:
    """One STAC item: id, time, footprint, properties and assets (hrefs absolute), plus its JSON."""

    id: str
    collection: str | None
    datetime: dt.datetime | None
    start: dt.datetime | None
    end: dt.datetime | None
    bbox: BBox | None
    properties: Mapping[str, Any]
    assets: Mapping[str, Mapping[str, Any]]
    document: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_dict(cls, document: Mapping[str, Any], base_href: str | None = None) -> StacItem:
        """The record of an item's JSON; relative asset hrefs are resolved against ``base_href`` (the item's own
        href), else its ``self`` link."""
        if base_href is None:
            base_href = next(
                (str(link["href"]) for link in document.get("links") or () if link.get("rel") == "self"), None
            )
        properties = document.get("properties") or {}
        assets = {
            key: {**asset, "href": absolute_href(str(asset.get("href", "")), base_href)}
            for key, asset in (document.get("assets") or {}).items()
        }
        collection = document.get("collection")
        return cls(
            id=str(document.get("id", "")),
            collection=str(collection) if collection else None,
            datetime=parse_timestamp(properties.get("datetime")),
            start=parse_timestamp(properties.get("start_datetime")),
            end=parse_timestamp(properties.get("end_datetime")),
            bbox=BBox.from_stac(document.get("bbox")),
            properties=properties,
            assets=assets,
            document={**document, "assets": assets, "links": []},
        )

    @classmethod
    def from_pystac(cls, item: pystac.Item) -> StacItem:
        document = item.to_dict(include_self_link=False, transform_hrefs=False)
        for key, asset in item.assets.items():
            document["assets"][key]["href"] = asset.get_absolute_href() or asset.href
        return cls.from_dict(document, base_href="")

    def to_pystac(self, *, grids: bool = True, assets: Sequence[str] | None = None) -> pystac.Item:
        """The pystac Item, with only ``assets`` when given; without ``grids``, its transforms and its projection
        extension are left out, so that odc-stac places it by its footprint."""
        # The storage extension says nothing a read needs, and pystac's migration of its v1 fields warns on every
        # href it cannot parse (Earth Search's https hrefs to S3 buckets).
        extensions = [e for e in self.document.get("stac_extensions") or [] if "/storage/" not in str(e)]
        document = {**self.document, "stac_extensions": extensions}
        kept = self.assets if assets is None else {k: a for k, a in self.assets.items() if k in assets}
        if not grids:
            document["stac_extensions"] = [e for e in extensions if "/projection/" not in str(e)]
            document["properties"] = {k: v for k, v in self.properties.items() if k != "proj:transform"}
            kept = {key: {k: v for k, v in asset.items() if k != "proj:transform"} for key, asset in kept.items()}
        document["assets"] = kept
        return pystac.Item.from_dict(document, preserve_dict=False)

    @property
    def interval(self) -> Interval:
        return (self.start or self.datetime, self.end or self.datetime)

    @property
    def title(self) -> str:
        return str(self.properties.get("title") or self.id)

    # --- assets -----------------------------------------------------------------------------------------------

    def data_assets(self) -> dict[str, Mapping[str, Any]]:
        """The assets a cube opens when no variable is named: data (role ``data`` or none) in a format GAIA Lab
        reads."""
        return {k: a for k, a in self.assets.items() if is_data(a) and asset_format(a) is not None}

    def variables(self) -> list[str]:
        """What search shows as the item's variables: its data assets."""
        return [k for k, a in self.assets.items() if is_data(a) and not is_preview(a)]

    def formats(self) -> list[str]:
        return formats_of(list(self.assets.values()))

    # --- grids ------------------------------------------------------------------------------------------------

    def proj(self, asset: Mapping[str, Any]) -> dict[str, Any]:
        """The projection fields of an asset: its own, else the item's."""
        return {key: asset[key] if key in asset else self.properties.get(key) for key in PROJ_KEYS}

    def crs(self, asset: Mapping[str, Any]) -> str | None:
        properties = self.properties
        for key in ("proj:code", "proj:epsg", "proj:wkt2"):
            value = asset[key] if key in asset else properties.get(key)
            if value:
                return f"EPSG:{int(value)}" if key == "proj:epsg" else str(value)
        return None

    @cached_property
    def grids(self) -> dict[str, Grid | None]:
        """Each asset's grid when the projection extension gives all of it (CRS, shape and transform), else
        ``None``: its pixels can then only be placed from the item's footprint, on a grid the caller chooses."""
        return {key: self._grid(asset) for key, asset in self.assets.items()}

    def _grid(self, asset: Mapping[str, Any]) -> Grid | None:
        # Runs for every asset of every item opened: fields are looked up directly, not gathered in a dict first.
        properties = self.properties
        shape = asset["proj:shape"] if "proj:shape" in asset else properties.get("proj:shape")
        transform = asset["proj:transform"] if "proj:transform" in asset else properties.get("proj:transform")
        if not (shape and transform):
            return None
        crs = self.crs(asset)
        if crs is None and (asset.get("proj:projjson") or properties.get("proj:projjson")):
            crs = "projjson"  # odc-stac reads it; the key only has to tell grids apart
        if not (crs and shape and transform) or len(shape) != 2 or len(transform) not in (6, 9):
            return None
        return Grid(crs, (int(shape[0]), int(shape[1])), tuple(float(v) for v in transform[:6]))

    def grid_key(self, bands: Sequence[str], *, by_footprint: bool = False) -> str:
        """What decides how the item is parsed and where it lands: per band its format, grid and raster fields.
        Items placed by their footprint (``by_footprint``, or bands missing or lacking a full grid) have it in the
        key.

        Encoded with orjson rather than sorted: it runs once per item, and two equal grids written with their keys
        in another order only cost one more template. orjson writes None, NaN and infinities alike (``null``), so
        absent fields are left out rather than written as None, and a key that still holds a ``null`` (a NaN nodata,
        a null field) is the ``repr`` instead, which tells them apart."""
        described: list[Any] = []
        placed_by_footprint = by_footprint
        grids = self.grids
        for key in bands:
            asset = self.assets.get(key)
            if asset is None:
                # odc-stac places an item without a band by its footprint too (it counts for the cube's extent)
                placed_by_footprint = True
                described.append("no asset")
                continue
            grid = grids[key]
            placed_by_footprint = placed_by_footprint or grid is None
            described.append(
                ("no grid" if grid is None else grid, {k: asset[k] for k in _PARSED_ASSET_FIELDS if k in asset})
            )
        if placed_by_footprint:
            bbox = None if self.bbox is None else tuple(self.bbox)
            described.append(("footprint", self.document.get("geometry"), bbox))
        try:
            encoded = orjson.dumps(described)
        except TypeError:  # a value JSON does not hold (a document built in memory)
            return f"repr:{described!r}"
        return f"repr:{described!r}" if b"null" in encoded else f"json:{encoded.decode()}"


#: The fields of an asset that odc-stac reads when it parses an item (besides the grid).
_PARSED_ASSET_FIELDS = ("type", "raster:bands", "bands", "nodata", "data_type")


def as_items(items: Any) -> list[StacItem]:
    """Records from records, pystac Items or item dicts (relative hrefs of dicts resolve against their self
    link)."""
    found = []
    for item in items:
        if isinstance(item, StacItem):
            found.append(item)
        elif isinstance(item, pystac.Item):
            found.append(StacItem.from_pystac(item))
        else:
            found.append(StacItem.from_dict(item))
    return found


def collection_bbox(collection: pystac.Collection) -> BBox | None:
    """A collection's overall footprint (the first of its spatial extent's boxes, 2-D or 3-D)."""
    boxes = collection.extent.spatial.bboxes
    return BBox.from_stac(boxes[0]) if boxes else None


def collection_interval(collection: pystac.Collection) -> Interval | None:
    intervals = collection.extent.temporal.intervals
    return interval_from_stac(*intervals[0]) if intervals and intervals[0] else None


def asset_dicts(obj: pystac.Collection | pystac.Item) -> dict[str, dict[str, Any]]:
    """A pystac object's assets as item JSON has them, hrefs absolute."""
    return {
        key: {**asset.to_dict(), "href": asset.get_absolute_href() or asset.href} for key, asset in obj.assets.items()
    }


def collection_variables(collection: pystac.Collection) -> list[str]:
    """Variables a collection announces: datacube ``cube:variables`` of type data, then ``item_assets`` holding
    data."""
    names: dict[str, None] = {}
    cube_variables = collection.extra_fields.get("cube:variables")
    if isinstance(cube_variables, Mapping):
        names.update(dict.fromkeys(k for k, v in cube_variables.items() if (v or {}).get("type", "data") == "data"))
    item_assets = collection.extra_fields.get("item_assets")
    if isinstance(item_assets, Mapping):
        names.update(
            dict.fromkeys(
                k for k, a in item_assets.items() if isinstance(a, Mapping) and is_data(a) and not is_preview(a)
            )
        )
    return list(names)


def opens_items(source: pystac.Collection | StacItem) -> TypeGuard[pystac.Collection]:
    """Whether opening a collection reads its items: not when one asset (Zarr, GeoParquet) holds all its data, nor
    when an item index (stac-geoparquet) holds its items."""
    if not isinstance(source, pystac.Collection):
        return False
    assets = asset_dicts(source)
    return zarr_asset(assets) is None and geoparquet_asset(assets) is None and index_asset(assets) is None


def collection_formats(collection: pystac.Collection) -> list[str]:
    item_assets = collection.extra_fields.get("item_assets") or {}
    described = [a for a in item_assets.values() if isinstance(a, Mapping)]
    return formats_of([*asset_dicts(collection).values(), *described])


__all__ = [
    "INDEX_ROLE",
    "OPENDAP_ROLE",
    "OPENDAP_TYPE",
    "Grid",
    "StacItem",
    "absolute_href",
    "as_items",
    "asset_dicts",
    "asset_format",
    "band_count",
    "collection_bbox",
    "collection_formats",
    "collection_interval",
    "collection_variables",
    "formats_of",
    "geoparquet_asset",
    "index_asset",
    "is_data",
    "opendap_asset",
    "opens_items",
    "zarr_asset",
]
