"""Footprints of search results on a map (holoviews rectangles in lon/lat, coloured by hub, hover with ids)."""

from __future__ import annotations

from typing import Any

from gaia_lab.catalog.results import SearchResults, register_results_accessor

HUB_COLOURS = {
    "ocean": "#1f77b4",
    "atmosphere": "#9467bd",
    "land": "#2ca02c",
    "solid-earth": "#8c564b",
    "imagery": "#ff7f0e",
    "climate": "#d62728",
    "biodiversity": "#17becf",
}


def explore(results: SearchResults, *, tiles: str | None = None, width: int = 800, height: int = 420) -> Any:
    """A holoviews overlay of result footprints; ``tiles`` names a basemap (e.g. "OSM", needs internet)."""
    import holoviews as hv
    import hvplot.pandas  # noqa: F401  (loads the bokeh extension holoviews renders with)

    rows = []
    for entry in results:
        if entry.bbox is None:
            continue
        for part in entry.bbox.parts():  # a box across the antimeridian is drawn as its two sides
            rows.append((part.west, part.south, part.east, part.north, entry.id, entry.hub, entry.title))
    rectangles = hv.Rectangles(rows, kdims=["west", "south", "east", "north"], vdims=["id", "hub", "title"])
    rectangles = rectangles.opts(
        color="hub",
        cmap=HUB_COLOURS,
        fill_alpha=0.15,
        line_width=2,
        tools=["hover"],
        width=width,
        height=height,
        xlim=(-180, 180),
        ylim=(-90, 90),
        xlabel="longitude",
        ylabel="latitude",
        title=f"{len(results)} entries from {len(results.providers)} provider(s)",
    )
    if tiles:
        return hv.element.tiles.tile_sources[tiles]().opts(width=width, height=height) * rectangles.opts(
            xlim=None, ylim=None
        )
    return rectangles


@register_results_accessor("explore")
class ExploreAccessor:
    """``results.explore(...)``: :func:`explore` on these results."""

    def __init__(self, results: SearchResults) -> None:
        self._results = results

    def __call__(self, *, tiles: str | None = None, width: int = 800, height: int = 420) -> Any:
        return explore(self._results, tiles=tiles, width=width, height=height)
