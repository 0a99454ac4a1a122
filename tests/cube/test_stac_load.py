"""gaia_lab.cube.stac_load builds the cube odc.stac.load builds, from records parsed once per grid."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dask
import numpy as np
import odc.stac
import pystac
import pytest

from gaia_lab.cube import stac_load
from gaia_lab.stac_item import StacItem, as_items


def lake_items(lake_dir: Path, hub: str, collection: str) -> list[pystac.Item]:
    catalog = pystac.Catalog.from_file(str(lake_dir / hub / "catalog.json"))
    found = catalog.get_child(collection)
    assert isinstance(found, pystac.Collection)
    items = list(found.get_items(recursive=True))
    assert items
    return items


CASES = [
    # one grid, 54 time steps
    ("odatis", "ostia-sst-monthly", "sst", {}),
    ("odatis", "ostia-sst-monthly", "sst", {"bbox": (-30.0, -4.0, 0.0, 4.0)}),
    # four tiles on four grids, one time
    ("theia", "land-mask-europe", "land", {}),
    ("theia", "land-mask-europe", "land", {"crs": "EPSG:3035", "resolution": 5000.0}),
    # polar stereographic source reprojected to geographic
    ("aeris", "meteosat-bt108", None, {"crs": "EPSG:4326", "resolution": 0.5}),
    ("formater", "elevation-5min", "elevation", {"crs": "EPSG:32631", "resolution": 10_000.0, "bbox": (-5, 42, 9, 51)}),
]


@pytest.mark.parametrize(("hub", "collection", "band", "query"), CASES)
def test_same_cube_as_odc_stac(lake_dir, hub, collection, band, query):
    items = lake_items(lake_dir, hub, collection)
    records = as_items(items)
    bands = [band] if band else sorted({k for r in records for k in r.data_assets()})
    chunks = {"time": 2, "x": 512, "y": 512}
    ours = stac_load.load(records, bands, chunks=chunks, **query)
    reference = odc.stac.load(items, bands, groupby="time", chunks=chunks, **query)
    assert ours.odc.geobox == reference.odc.geobox
    np.testing.assert_array_equal(ours["time"].values, reference["time"].values)
    assert list(ours.data_vars) == list(reference.data_vars)
    for name in bands:
        assert ours[name].dtype == reference[name].dtype
        assert ours[name].chunks == reference[name].chunks
        # Synchronous: odc-loader's reads from overviews race under threads (rasterio then warns that the
        # overview has no geotransform), with odc.stac.load as with this module.
        with dask.config.set(scheduler="sync"):
            np.testing.assert_array_equal(ours[name].values, reference[name].values)


def test_items_on_one_grid_share_one_template(lake_dir):
    records = as_items(lake_items(lake_dir, "odatis", "ostia-sst-monthly"))
    signatures = {r.grid_key(["sst"]) for r in records}
    assert len(signatures) == 1
    tiles = as_items(lake_items(lake_dir, "theia", "land-mask-europe"))
    assert len({r.grid_key(["land"]) for r in tiles}) == 4


def test_the_graph_token_follows_the_hrefs(lake_dir):
    records = as_items(lake_items(lake_dir, "odatis", "ostia-sst-monthly"))
    first = stac_load.load(records, ["sst"], chunks={"time": 1})
    again = stac_load.load(records, ["sst"], chunks={"time": 1})
    assert first["sst"].data.name == again["sst"].data.name
    moved = [
        StacItem.from_dict(
            {**r.document, "assets": {k: {**a, "href": a["href"] + ".copy"} for k, a in r.assets.items()}}
        )
        for r in records
    ]
    other = stac_load.load(moved, ["sst"], chunks={"time": 1})
    assert other["sst"].data.name != first["sst"].data.name


def test_the_grid_most_items_share_decides_the_resolution(lake_dir):
    """With several grids and neither crs nor resolution, odc-stac takes the most common grid's resolution: each grid
    is projected once here, but it still counts once per item."""
    first, *_ = lake_items(lake_dir, "theia", "land-mask-europe")
    coarse = []
    for day in range(1, 4):
        item = first.clone()
        item.id = f"{first.id}-coarse-{day}"
        item.datetime = first.datetime + timedelta(days=day) if first.datetime else None
        size, _, west, _, _, north = item.properties["proj:transform"][:6]
        height, width = item.properties["proj:shape"]
        item.properties["proj:transform"] = [2 * size, 0.0, west, 0.0, -2 * size, north]
        item.properties["proj:shape"] = [height // 2, width // 2]
        coarse.append(item)
    items = [first, *coarse]  # the first item's grid is the minority
    ours = stac_load.load(as_items(items), ["land"], chunks={"time": 1})
    reference = odc.stac.load(items, ["land"], groupby="time", chunks={"time": 1})
    assert ours.odc.geobox == reference.odc.geobox
    assert ours.odc.geobox.resolution.x == pytest.approx(2 * size)


def test_grids_placed_by_footprint_are_projected_once_each(lake_dir, monkeypatch):
    """Tiles without proj:transform on four footprints: the cube is odc-stac's, and each footprint is projected
    once for the output grid and its tiles together, not once per item and use."""
    items = []
    for item in lake_items(lake_dir, "theia", "land-mask-europe"):
        for day in range(3):
            copy = item.clone()
            copy.id = f"{item.id}-{day}"
            copy.datetime = item.datetime + timedelta(days=day) if item.datetime else None
            copy.properties.pop("proj:transform", None)
            for asset in copy.assets.values():
                asset.extra_fields.pop("proj:transform", None)
            items.append(copy)
    query = {"crs": "EPSG:3035", "resolution": 5000.0}
    projected = []
    original = odc.stac.model.ParsedItem.safe_geometry

    def counted(self, *args, **kwargs):
        projected.append(self.id)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(odc.stac.model.ParsedItem, "safe_geometry", counted)
    ours = stac_load.load(as_items(items), ["land"], chunks={"time": 1}, **query)
    assert len(projected) == 4  # one per footprint
    reference = odc.stac.load(items, ["land"], groupby="time", chunks={"time": 1}, **query)
    assert ours.odc.geobox == reference.odc.geobox
    with dask.config.set(scheduler="sync"):
        np.testing.assert_array_equal(ours["land"].values, reference["land"].values)


def test_grid_keys_tell_none_from_nan(lake_dir):
    (item, *_) = lake_items(lake_dir, "odatis", "ostia-sst-monthly")
    document = item.to_dict()
    keys = []
    for nodata in (None, float("nan"), float("nan"), 0.0):
        document["assets"]["sst"]["nodata"] = nodata
        keys.append(StacItem.from_dict(document).grid_key(["sst"]))
    assert keys[1] == keys[2] and len({keys[0], keys[1], keys[3]}) == 3
