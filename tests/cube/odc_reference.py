"""odc.stac.load as the reference GAIA Lab's raster cubes are compared with, given items so that its answer does not
depend on their order, and the files feeding each chunk of a lazy cube."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import odc.stac
import pystac
import xarray as xr


def as_odc_stac_takes_them(items: Sequence[Mapping[str, Any]], bands: Sequence[str]) -> list[dict[str, Any]]:
    # ``bands`` are asset keys here.
    """The same items, ordered and described so that odc-stac's result does not depend on their order.

    odc-stac works out the grid of every asset of an item, loaded or not: the assets not asked for are left out.
    It learns a collection's bands and how to place its items from the first item: one carrying every requested
    band goes first, and when any item lacks a full grid every item is given without its grid (``proj:transform``
    and the extension's declaration): odc-stac then places them all by their footprints, as it does when such an
    item comes first and none of the others brings a band of its own."""
    kept = [{**i, "assets": {k: a for k, a in i["assets"].items() if k in bands}} for i in items]
    complete = [i for i in kept if all(b in i["assets"] for b in bands)]
    if complete:
        kept = [complete[0], *(i for i in kept if i is not complete[0])]

    def has_grid(item: Mapping[str, Any], asset: Mapping[str, Any]) -> bool:
        fields = {**item["properties"], **asset}
        return bool(fields.get("proj:transform") and fields.get("proj:shape"))

    if any(not has_grid(i, a) for i in kept for a in i["assets"].values()):
        kept = [
            {
                **i,
                "stac_extensions": [e for e in i.get("stac_extensions", []) if "/projection/" not in e],
                "properties": {k: v for k, v in i["properties"].items() if k != "proj:transform"},
                "assets": {
                    key: {k: v for k, v in a.items() if k != "proj:transform"} for key, a in i["assets"].items()
                },
            }
            for i in kept
        ]
    return kept


def odc_stac_load(
    items: Sequence[Mapping[str, Any]],
    bands: Sequence[str],
    *,
    chunks: Mapping[str, int],
    dtype: str | None = None,
    crs: str | None = None,
    resolution: float | None = None,
    geobox: Any = None,
    asset_keys: Sequence[str] | None = None,
    **area: Any,
) -> xr.Dataset:
    """odc.stac.load of the bands, as one load, or one load per band when no item has them all (odc-stac refuses a
    band its first item lacks, so such a set loads in no order). Loads per band cover different footprints, so they
    are given the grid ``geobox`` to compare on, when there is one."""
    keys = list(asset_keys or bands)
    together = any(all(k in i["assets"] for k in keys) for i in items)
    if not together and geobox is not None:
        area, crs, resolution = {"geobox": geobox}, None, None
    with warnings.catch_warnings():
        # pystac migrating the storage extension of Earth Search items warns about every https href to S3
        warnings.filterwarnings("ignore", "Could not parse bucket/account from href", UserWarning)
        loads = _loads(items, bands, keys, together, chunks=chunks, dtype=dtype, crs=crs, resolution=resolution, **area)
    for other in loads[1:]:
        assert other.odc.geobox == loads[0].odc.geobox
    return loads[0].assign({name: load[name] for load in loads[1:] for name in load.data_vars})


def _loads(
    items: Sequence[Mapping[str, Any]],
    bands: Sequence[str],
    keys: Sequence[str],
    together: bool,
    *,
    chunks: Mapping[str, int],
    dtype: str | None,
    crs: str | None,
    resolution: float | None,
    **area: Any,
) -> list[xr.Dataset]:
    return [
        odc.stac.load(
            [pystac.Item.from_dict(i) for i in as_odc_stac_takes_them(items, group_keys)],
            list(group),
            groupby="time",
            chunks=dict(chunks),
            dtype=dtype,
            crs=crs,
            resolution=resolution,
            **area,
        )
        for group, group_keys in (
            [(bands, keys)] if together else [([b], [k]) for b, k in zip(bands, keys, strict=True)]
        )
    ]


def chunk_sources(array: xr.DataArray) -> dict[tuple[int, ...], frozenset[str]]:
    """For each chunk of a lazy odc-loader cube, the hrefs of the files its task reads (from the dask graph)."""
    graph = array.data.__dask_graph__()
    opened = {
        key: task[1].uri
        for name, layer in graph.layers.items()
        if name.startswith("open-")
        for key, task in layer.items()
    }
    sources: dict[tuple[int, ...], frozenset[str]] = {}
    for layer in graph.layers.values():
        for key, task in layer.items():
            dependencies = getattr(task, "dependencies", ())
            if any(d in opened for d in dependencies):
                sources[tuple(key[1:])] = frozenset(opened[d] for d in dependencies if d in opened)
    return sources
