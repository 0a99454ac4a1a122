"""``odc.stac.load`` for thousands of items: parse and bin once per grid, not once per item.

odc-stac spends its time on per-item work whose result depends only on the item's grid: building a ``pystac.Item``
(about 0.3 ms), parsing its raster metadata, projecting its footprint onto the output tiles (about 0.8 ms) and
tokenizing every source for dask. A collection's items almost always share a few grids (a satellite tile, a model
domain), so for 10,000 items on one grid odc-stac repeats identical geometry work 10,000 times and grows faster
than linearly.

This module runs the same steps with odc-stac's and odc-loader's own functions (``parse_items``,
``output_geobox``, the time grouping, ``chunked_load``), but parses one template item per distinct grid, derives
the other items from it (their id, time and hrefs differ), computes the tiles each grid touches once, and gives
dask a cheap token for the sources. The cube is the one ``odc.stac.load`` returns: same grid, same time axis, same
read tasks (tests compare both on the demo lake).

It relies on odc-stac internals, so pyproject pins odc-stac and odc-loader to the tested minor versions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pystac
import xarray as xr
from dask.base import normalize_token, tokenize
from dask.utils import ndeepmap
from odc.geo.crs import norm_crs
from odc.geo.geobox import GeoBox, GeoboxTiles
from odc.geo.geom import Geometry
from odc.geo.types import AnchorEnum, Unset
from odc.loader import resolve_chunk_shape, resolve_load_cfg
from odc.loader.types import ReaderDriverSpec
from odc.stac import _stac_load
from odc.stac._mdtools import _resolve_driver, output_geobox, parse_items
from odc.stac.model import ParsedItem, RasterCollectionMetadata

from gaia_lab.bulk import paused_gc
from gaia_lab.cube.chunk_graph import chunked_load
from gaia_lab.cube.footprints import footprints_bbox
from gaia_lab.cube.reads import COPY_FUSER
from gaia_lab.stac_item import StacItem

_UNSET = Unset()


class NoOutputGrid(ValueError):
    """Neither the request nor the items' projection metadata fix the cube's CRS and resolution."""


class EmptyArea(ValueError):
    """The requested area holds no whole pixel of the output grid."""


class _Tokenized(Sequence[Any]):
    """A sequence handed to odc-loader with a dask token computed from what identifies it: dask would otherwise
    tokenize 10,000 ``RasterSource`` dataclasses field by field, most of a second."""

    def __init__(self, values: list[Any], token: str) -> None:
        self._values = values
        self._token = token

    def __len__(self) -> int:
        return len(self._values)

    def __getitem__(self, index: Any) -> Any:
        return self._values[index]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __dask_tokenize__(self) -> str:
        return self._token


class _TokenizedBins(dict[tuple[int, int, int], list[int]]):
    """The (time, y, x) -> items bins, with a token from the time groups and the tiles of each grid."""

    token = ""


# dask dispatches dict subclasses to its dict normalizer before looking for __dask_tokenize__.
normalize_token.register(_TokenizedBins)(lambda bins: bins.token)


def _copy_with(template: Any, **fields: Any) -> Any:
    # Copies of a frozen dataclass instance that passed its own checks; ten times cheaper than
    # dataclasses.replace, which runs for every band of every item.
    derived = object.__new__(type(template))
    derived.__dict__.update(template.__dict__)
    derived.__dict__.update(fields)
    return derived


class _GridItem(ParsedItem):
    """A ParsedItem that shares its footprint projections with every item of its grid.

    The items of one grid are copies of one template (``_derive``): same footprint, same geoboxes. odc-stac
    projects a footprint (densified to a hundred points, then reprojected) once to size the output grid and once
    more to find the tiles it touches; with a hundred grids that was a tenth of the open. Each projection is now
    computed once per grid, CRS and bands."""

    def safe_geometry(self, crs: Any = _UNSET, bands: Any = None) -> Geometry | None:
        cache: dict[Any, Geometry | None] = self.__dict__["_footprints"]
        placed_by_geometry = all(getattr(src, "geobox", None) is None for src in self.bands.values())
        # Without a geobox the bands play no part: the footprint is the item's geometry whatever they are.
        if isinstance(crs, str) and not crs.lower().startswith("utm"):  # "utm" is resolved per footprint
            # odc-stac asks for the first footprint in the CRS as given and for the others in the CRS it became
            crs = norm_crs(crs)
        key: tuple[Any, Any]
        if placed_by_geometry:
            key = (crs, None)
        else:
            key = (crs, bands if bands is None or isinstance(bands, str) else tuple(bands))
        try:
            return cache[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable CRS or band query: computed each time, as odc-stac does
            return super().safe_geometry(crs, bands)
        cache[key] = found = super().safe_geometry(crs, bands)
        return found


def _grid_item(template: ParsedItem) -> _GridItem:
    shared: _GridItem = object.__new__(_GridItem)
    shared.__dict__.update(template.__dict__)
    shared.__dict__["_footprints"] = {}
    return shared


def placed_by_footprint(records: Sequence[StacItem], asset_keys: Sequence[str]) -> bool:
    """Whether a load places its items by their footprints rather than by their grids.

    odc-stac places every item of a load one way, decided by its first item. An item without a full grid among
    gridded ones then fails or passes by its position in the list; placing all of them by their footprints whenever
    one lacks a grid gives the same cube in every order."""
    return any(record.grids[key] is None for record in records for key in asset_keys if key in record.assets)


def _derive(
    template: ParsedItem, record: StacItem, asset_keys: Sequence[str], collection: RasterCollectionMetadata
) -> ParsedItem:
    """The ParsedItem odc-stac would build for ``record``, whose grid and metadata equal the template's, as one
    of ``collection``."""
    sources: dict[Any, Any] = {}
    for band_key, source in template.bands.items():
        asset = record.assets.get(band_key[0])
        if asset is None:
            continue
        sources[band_key] = _copy_with(source, uri=str(asset["href"])) if band_key[0] in asset_keys else source
    derived: ParsedItem = _copy_with(
        template,
        id=record.id,
        collection=collection,
        bands=sources,
        datetime=record.datetime,
        datetime_range=(record.start, record.end),
        href=None,
        accessories={},
    )
    return derived


def _most_common_weighted(weighted: Sequence[tuple[GeoBox, int]], thresh: float) -> tuple[Any, Any, Any, GeoBox | None]:
    """odc-stac's ``_most_common_gbox`` over geoboxes given with their number of items, without repeating each one
    that many times (a million-item index has a hundred grids, not a million)."""
    if len({box for box, _ in weighted}) == 1:
        box = weighted[0][0]
        return box.crs, box.resolution, box.anchor, box
    histogram: Counter[tuple[Any, Any, Any]] = Counter()
    for box, count in weighted:
        histogram[(box.crs, box.resolution, box.anchor)] += count
    total = sum(histogram.values())
    (best, n), *_ = histogram.most_common(1)
    if n / total > thresh:
        return (*best, None)
    without_anchor: Counter[tuple[Any, Any]] = Counter()
    for (crs, resolution, _), count in histogram.items():
        without_anchor[(crs, resolution)] += count
    (best_pair, _), *_ = without_anchor.most_common(1)
    return (*best_pair, AnchorEnum.EDGE, None)


def _output_geobox(
    order: Sequence[int],
    grid_of: Sequence[str],
    parsed: Sequence[ParsedItem],
    bands: Sequence[str],
    *,
    crs: Any,
    resolution: Any,
    bbox: tuple[float, float, float, float] | None,
    geopolygon: Any,
) -> GeoBox | None:
    """``output_geobox`` over the items in ``order``, computed from one item per grid.

    What it derives from the items depends on their grids only (items of one grid have one footprint: see
    ``StacItem.grid_key``) and, for a default CRS or resolution, on how many items each grid has: odc-stac's most
    common grid. So each grid's representative counts as many times as the grid has items, and the union of
    footprints, the costly part (a projection of every item's footprint), is taken over the representatives."""
    counts: dict[str, int] = {}
    representatives: list[ParsedItem] = []
    for index in order:
        signature = grid_of[index]
        if signature not in counts:
            counts[signature] = 0
            representatives.append(parsed[index])
        counts[signature] += 1
    return output_geobox_of_grids(
        representatives,
        list(counts.values()),
        bands,
        crs=crs,
        resolution=resolution,
        bbox=bbox,
        geopolygon=geopolygon,
    )


def output_geobox_of_grids(
    representatives: Sequence[ParsedItem],
    counts: Sequence[int],
    bands: Sequence[str],
    *,
    crs: Any,
    resolution: Any,
    bbox: tuple[float, float, float, float] | None,
    geopolygon: Any,
) -> GeoBox | None:
    """``output_geobox`` over items given as one representative per grid, in the order odc-stac considers them,
    and how many items each grid has."""
    if len(representatives) == 1:
        return output_geobox(
            representatives, bands=bands, crs=crs, resolution=resolution, bbox=bbox, geopolygon=geopolygon
        )
    anchor = None
    if crs is None or resolution is None:
        weighted: list[tuple[GeoBox, int]] = []
        for item, count in zip(representatives, counts, strict=True):
            boxes = item.geoboxes(bands)
            if boxes:
                weighted.append((boxes[0], count))
        if not weighted:
            return None
        auto_crs, auto_resolution, anchor, only_grid = _most_common_weighted(weighted, 0.1)
        if only_grid is not None and crs is None and resolution is None and bbox is None and geopolygon is None:
            return only_grid
        if crs is None and auto_crs is None and geopolygon is None:
            return None
        crs = crs if crs is not None else (auto_crs if auto_crs is not None else geopolygon.crs)
        resolution = resolution if resolution is not None else auto_resolution
    if bbox is None and geopolygon is None and resolution is not None:
        # output_geobox's own last step, with the footprints' union computed once per CRS (see footprints.py)
        union = footprints_bbox(representatives, crs)
        if union is not None:
            return GeoBox.from_bbox(
                union, resolution=resolution, anchor=anchor if anchor is not None else AnchorEnum.EDGE
            )
    return output_geobox(
        representatives, bands=bands, crs=crs, resolution=resolution, anchor=anchor, bbox=bbox, geopolygon=geopolygon
    )


def load(
    records: Sequence[StacItem],
    bands: Sequence[str],
    *,
    asset_keys: Sequence[str] | None = None,
    by_footprint: bool | None = None,
    chunks: Mapping[str, int],
    driver: ReaderDriverSpec | None = None,
    dtype: str | None = None,
    resampling: str = "nearest",
    crs: Any = None,
    resolution: float | None = None,
    bbox: tuple[float, float, float, float] | None = None,
    geopolygon: Any = None,
    fail_on_error: bool = True,
) -> xr.Dataset:
    """One lazy Dataset from ``records``, grouped by time, as ``odc.stac.load(items, bands, groupby="time", ...)``.

    ``asset_keys`` names the assets the bands come from when they differ from the band names (band ``N`` of a
    multi-band asset ``key`` is the band ``key.N``); ``by_footprint`` is ``placed_by_footprint(records, asset_keys)``
    when the caller already knows it."""
    if not records:
        raise ValueError("no items to load")
    keys = list(asset_keys) if asset_keys is not None else list(bands)
    with paused_gc():
        return _load(
            records,
            bands,
            asset_keys=keys,
            by_footprint=placed_by_footprint(records, keys) if by_footprint is None else by_footprint,
            chunks=chunks,
            driver=driver,
            dtype=dtype,
            resampling=resampling,
            crs=crs,
            resolution=resolution,
            bbox=bbox,
            geopolygon=geopolygon,
            fail_on_error=fail_on_error,
        )


def _load(
    records: Sequence[StacItem],
    bands: Sequence[str],
    *,
    asset_keys: Sequence[str],
    by_footprint: bool,
    chunks: Mapping[str, int],
    driver: ReaderDriverSpec | None,
    dtype: str | None,
    resampling: str,
    crs: Any,
    resolution: float | None,
    bbox: tuple[float, float, float, float] | None,
    geopolygon: Any,
    fail_on_error: bool,
) -> xr.Dataset:
    rdr, md_parser = _resolve_driver(driver, None)

    by_grid: dict[str, list[int]] = {}
    for index, record in enumerate(records):
        by_grid.setdefault(record.grid_key(asset_keys, by_footprint=by_footprint), []).append(index)
    signatures = list(by_grid)
    template_items: list[pystac.Item] = []
    for signature in signatures:
        # Only the assets loaded: odc-stac works out the grid of every asset it is given, and would fail on an
        # unrequested one without a grid.
        template_items.append(records[by_grid[signature][0]].to_pystac(grids=not by_footprint, assets=asset_keys))
    templates = [_grid_item(parsed) for parsed in parse_items(template_items, md_plugin=md_parser)]
    if any(src.driver_data is not None for t in templates for src in t.bands.values()):
        raise ValueError("reader driver data per item is not supported")

    grid_of = [""] * len(records)
    for signature, indices in by_grid.items():
        for index in indices:
            grid_of[index] = signature
    # odc-stac learns a collection's bands item by item; the last template has seen every grid's bands, so a band
    # missing from the first item is still found (odc.stac.load refuses it then, and accepts it in other orders).
    collection = templates[-1].collection
    template_of = dict(zip(signatures, templates, strict=True))
    parsed = [_derive(template_of[grid_of[i]], record, asset_keys, collection) for i, record in enumerate(records)]
    bands_to_load = collection.resolve_bands(list(bands))
    band_names = list(bands_to_load)
    load_cfg = resolve_load_cfg(bands_to_load, resampling, dtype=dtype, fail_on_error=fail_on_error)
    # odc-stac takes the first item's grid between equally common ones, and accepts only an order whose first item
    # has every band: the items are considered in that order.
    complete = next((i for i, record in enumerate(records) if all(k in record.assets for k in asset_keys)), 0)
    gbox = _output_geobox(
        [complete, *range(complete), *range(complete + 1, len(records))],
        grid_of,
        parsed,
        band_names,
        crs=crs,
        resolution=resolution,
        bbox=bbox,
        geopolygon=geopolygon,
    )
    if not isinstance(gbox, GeoBox):
        raise NoOutputGrid(
            "the items' projection metadata do not give the output grid (no proj:transform): pass crs= and resolution="
        )
    if 0 in gbox.shape:
        raise EmptyArea(f"the output grid {gbox.shape} has no pixel")

    ((mid_lon, _),) = gbox.extent.centroid.to_crs("epsg:4326").points
    grouped = _stac_load._group_items(parsed, parsed, "time", mid_lon)  # type: ignore[arg-type]
    timestamps = _stac_load._extract_timestamps(ndeepmap(2, lambda i: parsed[i], grouped))
    meta = collection.meta_for(band_names)
    chunk_shape = resolve_chunk_shape(
        len(timestamps), gbox, dict(chunks), cfg=load_cfg, extra_dims=meta.extra_dims_full()
    )
    tiles = GeoboxTiles(gbox, (chunk_shape[1], chunk_shape[2]))

    tiles_of_grid = {signature: list(_stac_load._tiles(template_of[signature], tiles)) for signature in signatures}
    bins = _TokenizedBins()
    for t_index, group in enumerate(grouped):
        for item_index in group:
            for yx in tiles_of_grid[grid_of[item_index]]:
                bins.setdefault((t_index, *yx), []).append(item_index)
    bins.token = tokenize(grouped, [(s, tiles_of_grid[s]) for s in signatures])

    if all(len(sources) == 1 for sources in bins.values()):
        load_cfg = resolve_load_cfg(
            bands_to_load, resampling, dtype=dtype, fail_on_error=fail_on_error, fuse_func=COPY_FUSER
        )

    resolved = [item.resolve_bands(band_names) for item in parsed]
    uris = [str(getattr(src, "uri", "")) for item_sources in resolved for src in item_sources.values()]
    sources = _Tokenized(resolved, tokenize(signatures, uris))
    return chunked_load(
        load_cfg,
        meta,
        sources,
        bins,
        tiles,
        timestamps,
        rdr.capture_env(),
        rdr,
        chunks=dict(chunks),
        dtype=dtype,
    )
