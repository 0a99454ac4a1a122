"""STAC items as the cube layer needs them: parsed once from their JSON, asset hrefs absolute.

Building a ``pystac.Item`` costs about 0.3 ms (a deep copy and a migration of the whole document), which dominates
the opening of a collection of thousands of items; a record reads only the fields that decide the cube.
"""

from __future__ import annotations

import datetime as dt
import os
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import pystac

GEOTIFF_TYPES = ("image/tiff", "image/geotiff", "image/vnd.stac.geotiff")
PROJ_CRS_KEYS = ("proj:code", "proj:epsg", "proj:wkt2", "proj:projjson")
_PROJ_GRID_KEYS = (*PROJ_CRS_KEYS, "proj:shape", "proj:transform", "proj:bbox")


def parse_datetime(value: object) -> dt.datetime | None:
    """An RFC 3339 timestamp as an aware UTC datetime (``None`` when absent or unparsable)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def absolute_href(href: str, base: str | None) -> str:
    """``href`` resolved against the document it appeared in (a local path or a URL)."""
    # String tests rather than urlparse: this runs for every asset of every item of a collection.
    if not base or "://" in href or href.startswith("/"):
        return href
    if "://" in base and not base.startswith("file://"):
        return urljoin(base, href)
    directory = posixpath.dirname(base.removeprefix("file://"))
    if not directory.startswith("/"):
        directory = os.path.abspath(directory)
    joined = posixpath.join(directory, href)
    return posixpath.normpath(joined) if "./" in href else joined


def is_geotiff(asset: Mapping[str, Any]) -> bool:
    media_type = str(asset.get("type") or "").lower()
    if media_type:
        return media_type.split(";")[0].strip() in GEOTIFF_TYPES
    return str(asset.get("href", "")).lower().endswith((".tif", ".tiff"))


@dataclass(frozen=True)
class ItemRecord:
    """One STAC item: id, time, footprint, properties and assets (hrefs absolute), plus its JSON for odc-stac."""

    id: str
    datetime: dt.datetime | None
    start: dt.datetime | None
    end: dt.datetime | None
    bbox: tuple[float, ...] | None
    properties: Mapping[str, Any]
    assets: Mapping[str, Mapping[str, Any]]
    document: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_dict(cls, document: Mapping[str, Any], base_href: str | None = None) -> ItemRecord:
        properties = document.get("properties") or {}
        assets = {
            key: {**asset, "href": absolute_href(str(asset.get("href", "")), base_href)}
            for key, asset in (document.get("assets") or {}).items()
        }
        bbox = document.get("bbox")
        return cls(
            id=str(document.get("id", "")),
            datetime=parse_datetime(properties.get("datetime")),
            start=parse_datetime(properties.get("start_datetime")),
            end=parse_datetime(properties.get("end_datetime")),
            bbox=tuple(float(v) for v in bbox) if bbox else None,
            properties=properties,
            assets=assets,
            document={**document, "assets": assets, "links": []},
        )

    @classmethod
    def from_pystac(cls, item: pystac.Item) -> ItemRecord:
        document = item.to_dict(include_self_link=False, transform_hrefs=False)
        for key, asset in item.assets.items():
            document["assets"][key]["href"] = asset.get_absolute_href() or asset.href
        return cls.from_dict(document)

    @property
    def interval(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        return (self.start or self.datetime, self.end or self.datetime)

    def data_assets(self) -> dict[str, Mapping[str, Any]]:
        """Assets holding data (role ``data``, or no roles at all)."""
        return {key: asset for key, asset in self.assets.items() if not asset.get("roles") or "data" in asset["roles"]}

    def proj(self, asset: Mapping[str, Any]) -> dict[str, Any]:
        """The projection fields of an asset: its own, else the item's."""
        return {key: asset.get(key, self.properties.get(key)) for key in _PROJ_GRID_KEYS}

    def has_proj(self, asset: Mapping[str, Any]) -> bool:
        proj = self.proj(asset)
        return (
            any(proj.get(key) for key in PROJ_CRS_KEYS)
            and bool(proj.get("proj:transform") or self.bbox)
            and bool(proj.get("proj:shape"))
        )

    def to_pystac(self) -> pystac.Item:
        return pystac.Item.from_dict(dict(self.document), preserve_dict=False)


def as_records(items: Any) -> list[ItemRecord]:
    """Records from records, pystac Items or item dicts (hrefs of dicts must already be absolute)."""
    records = []
    for item in items:
        if isinstance(item, ItemRecord):
            records.append(item)
        elif isinstance(item, pystac.Item):
            records.append(ItemRecord.from_pystac(item))
        else:
            records.append(ItemRecord.from_dict(item))
    return records
