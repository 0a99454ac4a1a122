"""Search results: an ordered list of entries plus the providers that failed and the terms searched."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from gaia_lab.catalog.entry import Entry
from gaia_lab.catalog.ranking import Match, explain
from gaia_lab.catalog.thesaurus import Expansion, QueryTerm
from gaia_lab.errors import EntryNotFound, GaiaLabError
from gaia_lab.query import Query

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
        expansion: Expansion | None = None,
        timings: dict[str, float] | None = None,
        query_terms: list[str] | None = None,
    ) -> None:
        self.entries = entries
        self.query = query
        self.errors = errors or {}
        self.expansion = expansion
        self.timings = timings or {}
        # Results made without an expansion (by hand, or by older callers) may still say what was searched.
        self._plain_terms = [QueryTerm(t, "query", "literal") for t in query_terms or []]

    @property
    def query_terms(self) -> list[QueryTerm]:
        """The terms the query was expanded to, strongest relation first. Each is a string (the term) that also
        has ``.vocabulary`` (query, gaia-lab, CF, GCMD, GEMET), ``.relation`` (literal, synonym, narrower,
        broader) and ``.concept``; ``.to_dict()`` gives all of them."""
        return self.expansion.query_terms if self.expansion else list(self._plain_terms)

    def explain(self, entry: Entry | str | int) -> list[Match]:
        """Why an entry matched the text query: which query term, its vocabulary and relation, in which field.
        Strongest reason first; empty for a search without text."""
        if not isinstance(entry, Entry):
            entry = self[entry]
        if self.expansion is None:
            return []
        return explain(entry, self.expansion)[1]

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


Accessor = TypeVar("Accessor")


class _CachedAccessor(Generic[Accessor]):
    """A descriptor building the accessor once per results object (as xarray and pandas do)."""

    def __init__(self, name: str, accessor: Callable[[SearchResults], Accessor]) -> None:
        self._name = name
        self._accessor = accessor

    def __get__(self, results: SearchResults | None, owner: type) -> Any:
        if results is None:
            return self._accessor
        value = self._accessor(results)
        results.__dict__[self._name] = value
        return value


def register_results_accessor(
    name: str,
) -> Callable[[Callable[[SearchResults], Accessor]], Callable[[SearchResults], Accessor]]:
    """Add ``name`` to every :class:`SearchResults`, built from the results by the decorated class or function, as
    ``xarray.register_dataset_accessor`` does for Datasets: views of results (maps, tables) plug in from the
    packages that draw them, and search does not import them."""

    def register(accessor: Callable[[SearchResults], Accessor]) -> Callable[[SearchResults], Accessor]:
        if hasattr(SearchResults, name):
            raise AttributeError(f"SearchResults already has an attribute {name!r}")
        setattr(SearchResults, name, _CachedAccessor(name, accessor))
        return accessor

    return register
