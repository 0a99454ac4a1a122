"""An entry of the federated catalogue: one dataset (STAC collection or item, intake source) of one provider."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from gaia_lab.errors import InvalidQuery
from gaia_lab.query import BBox, CubeRequest, Interval, Query, interval_intersects

if TYPE_CHECKING:
    import xarray as xr

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
    # keyword -> title of the thesaurus it comes from, where the record names one (ISO 19115 descriptiveKeywords)
    keyword_thesauri: dict[str, str] = field(default_factory=dict, repr=False)
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
        reader: str | None = None,
    ) -> xr.Dataset:
        """A lazy, dask-backed Dataset; opening reads metadata only, never pixel data.

        ``bbox`` is WGS84 ``(west, south, east, north)`` (west > east crosses the antimeridian); ``datetime`` an
        ISO 8601 instant or ``START/END``; ``variables`` come in the order given; ``crs`` / ``resolution`` (in
        units of the target CRS) set the output grid; ``chunks`` maps dimensions to dask chunk sizes; ``reader``
        decodes GeoTIFF tiles with ``"gdal"`` or ``"async-tiff"`` (Rust, extra ``rust``; the same pixels, GDAL
        reading what async-tiff cannot), by default ``$GAIA_LAB_COG_READER``, else ``"gdal"``.
        """
        request = CubeRequest.parse(
            bbox=bbox,
            datetime=datetime,
            variables=variables,
            crs=crs,
            resolution=resolution,
            chunks=chunks,
            reader=reader,
        )
        if self._provider is None:
            raise InvalidQuery("entry", self.id, "this entry is detached from its provider and cannot be opened")
        return self._provider.open(self, request)

    def to_geopandas(self, bbox: object = None, variables: object = None, crs: object = None) -> Any:
        """The entry's table (a GeoParquet asset: sites, stations) as a ``geopandas.GeoDataFrame``: the rows whose
        geometry intersects ``bbox`` (WGS84), the columns named in ``variables`` (all by default), in ``crs``."""
        request = CubeRequest.parse(bbox=bbox, variables=variables, crs=crs)
        if self._provider is None:
            raise InvalidQuery("entry", self.id, "this entry is detached from its provider and cannot be opened")
        return self._provider.open_table(self, request)

    def matches(self, query: Query) -> bool:
        """Whether the entry passes the query's bbox / datetime / collections / variables filters (metadata
        only; an entry that does not say where or when it lies is kept)."""
        if query.bbox is not None and self.bbox is not None and not query.bbox.intersects(self.bbox):
            return False
        if (
            query.datetime is not None
            and self.datetime is not None
            and not interval_intersects(query.datetime, self.datetime)
        ):
            return False
        if query.collections and self.local_id.split("/")[0] not in query.collections:
            return False
        if query.variables:
            wanted = {v.lower() for v in query.variables}
            present = {v.lower() for v in self.variables} | {k.lower() for k in self.keywords}
            if not wanted & present:
                return False
        return True

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
