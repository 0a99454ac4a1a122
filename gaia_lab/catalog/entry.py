"""An entry of the federated catalogue: one dataset (STAC collection or item, intake source) of one provider."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import xarray as xr

from gaia_lab.catalog.query import BBox, Interval, parse_bbox, parse_datetime, parse_names
from gaia_lab.errors import InvalidQuery

if TYPE_CHECKING:
    from gaia_lab.catalog.providers.base import Provider


@dataclass(eq=False, slots=True)
class Entry:
    """A dataset found in a catalogue; ``to_xarray()`` opens it as a lazy datacube."""

    id: str
    provider: str
    hub: str
    title: str
    description: str = ""
    bbox: BBox | None = None
    datetime: Interval | None = None
    variables: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    kind: str = "collection"
    assets: dict[str, str] = field(default_factory=dict)
    formats: list[str] = field(default_factory=list)
    source: Any = field(default=None, repr=False)
    score: float = field(default=0.0, repr=False)
    mirrors: list[str] = field(default_factory=list, repr=False)
    _provider: Provider | None = field(default=None, repr=False)

    @property
    def local_id(self) -> str:
        """The id inside its provider (the part after ``<provider>/``)."""
        return self.id.split("/", 1)[1]

    def to_xarray(
        self,
        bbox: object = None,
        datetime: object = None,
        variables: object = None,
        crs: object = None,
        resolution: object = None,
        chunks: Mapping[str, int] | None = None,
    ) -> xr.Dataset:
        """A lazy, dask-backed Dataset; opening reads metadata only, never pixel data.

        ``bbox`` is WGS84 ``(west, south, east, north)``; ``datetime`` an ISO 8601 instant or ``START/END``;
        ``crs`` / ``resolution`` (in units of the target CRS) reproject lazily.
        """
        if self._provider is None:
            raise InvalidQuery("entry", self.id, "this entry is detached from its provider and cannot be opened")
        return self._provider.open(
            self,
            bbox=parse_bbox(bbox),
            datetime=parse_datetime(datetime),
            variables=parse_names(variables, "variables"),
            crs=crs,
            resolution=_parse_resolution(resolution),
            chunks=chunks,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable summary."""

        def iso(moment: datetime | None) -> str | None:
            return None if moment is None else moment.isoformat()

        return {
            "id": self.id,
            "provider": self.provider,
            "hub": self.hub,
            "title": self.title,
            "kind": self.kind,
            "bbox": list(self.bbox) if self.bbox else None,
            "start": iso(self.datetime[0]) if self.datetime else None,
            "end": iso(self.datetime[1]) if self.datetime else None,
            "variables": list(self.variables),
            "keywords": list(self.keywords),
            "formats": list(self.formats),
            "assets": dict(self.assets),
            "score": round(self.score, 3),
            "mirrors": list(self.mirrors),
        }

    def _repr_html_(self) -> str:
        from html import escape

        rows = "".join(
            f"<tr><th style='text-align:left'>{escape(k)}</th><td>{escape(str(v))}</td></tr>"
            for k, v in self.to_dict().items()
            if k not in ("assets", "score")
        )
        return f"<table>{rows}</table>"


def _parse_resolution(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InvalidQuery("resolution", value, "expected a positive number (in units of the target CRS)")
    try:
        resolution = float(value)
    except ValueError:
        raise InvalidQuery("resolution", value, "expected a positive number") from None
    if not resolution > 0:
        raise InvalidQuery("resolution", value, "must be positive")
    return resolution
