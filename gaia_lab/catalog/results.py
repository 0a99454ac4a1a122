"""Search results: an ordered list of entries plus the providers that failed and the terms searched."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, overload

from gaia_lab.catalog.entry import Entry
from gaia_lab.catalog.query import Query
from gaia_lab.errors import EntryNotFound, GaiaLabError

if TYPE_CHECKING:
    import pandas as pd


class SearchResults:
    """Entries ranked by relevance then recency; ``errors`` maps failed providers to their GaiaLabError."""

    def __init__(
        self,
        entries: list[Entry],
        *,
        query: Query,
        errors: dict[str, GaiaLabError] | None = None,
        query_terms: list[str] | None = None,
        timings: dict[str, float] | None = None,
    ) -> None:
        self.entries = entries
        self.query = query
        self.errors = errors or {}
        self.query_terms = query_terms or []
        self.timings = timings or {}

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    @overload
    def __getitem__(self, key: int) -> Entry: ...
    @overload
    def __getitem__(self, key: str) -> Entry: ...

    def __getitem__(self, key: int | str) -> Entry:
        if isinstance(key, int):
            return self.entries[key]
        for entry in self.entries:
            if entry.id == key:
                return entry
        raise EntryNotFound(key, "not among these search results")

    @property
    def providers(self) -> list[str]:
        """Providers that contributed at least one entry."""
        return list(dict.fromkeys(e.provider for e in self.entries))

    def to_dataframe(self) -> pd.DataFrame:
        import pandas as pd

        rows = [entry.to_dict() for entry in self.entries]
        columns = ["id", "provider", "hub", "title", "kind", "start", "end", "variables", "formats", "bbox", "score"]
        frame = pd.DataFrame(rows, columns=[*columns, "keywords", "assets"])
        return frame[columns]

    def to_geodataframe(self) -> Any:
        """Footprints as a GeoDataFrame (EPSG:4326); needs geopandas and shapely."""
        try:
            import geopandas
            from shapely.geometry import box
        except ImportError as error:
            raise GaiaLabError("to_geodataframe needs geopandas: pip install geopandas") from error
        frame = self.to_dataframe()
        geometry = [box(*b) if b else None for b in frame["bbox"]]
        return geopandas.GeoDataFrame(frame.drop(columns=["bbox"]), geometry=geometry, crs="EPSG:4326")

    def explore(self, **kwargs: Any) -> Any:
        """Footprints on a map (holoviews); see :func:`gaia_lab.viz.explore`."""
        from gaia_lab.viz import explore

        return explore(self, **kwargs)

    def __repr__(self) -> str:
        failed = f", {len(self.errors)} provider(s) failed: {sorted(self.errors)}" if self.errors else ""
        return f"<SearchResults {len(self.entries)} entries from {len(self.providers)} provider(s){failed}>"

    def _repr_html_(self) -> str:
        from html import escape

        table = self.to_dataframe().drop(columns=["bbox", "score"])._repr_html_()
        errors = "".join(f"<li><b>{escape(name)}</b>: {escape(str(err))}</li>" for name, err in self.errors.items())
        terms = escape(", ".join(self.query_terms))
        note = f"<p>Searched terms: {terms}</p>" if terms else ""
        return f"{note}{table}" + (f"<p>Providers that failed:</p><ul>{errors}</ul>" if errors else "")
