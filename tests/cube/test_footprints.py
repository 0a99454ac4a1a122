"""gaia_lab.cube.footprints gives odc-stac's union of footprints, bit for bit, from the same points."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pystac
import pytest
from odc.geo.geom import densify
from odc.stac._mdtools import _compute_bbox, output_geobox, parse_items

from gaia_lab.cube import stac_load
from gaia_lab.cube.footprints import densified, footprints_bbox
from gaia_lab.stac_item import StacItem


def test_densified_adds_odc_geo_s_points_bit_for_bit():
    rng = np.random.default_rng(20261206)
    for _ in range(500):
        scale = 10.0 ** rng.integers(-1, 7)
        coords = rng.uniform(-1, 1, (int(rng.integers(2, 8)), 2)) * scale
        if rng.random() < 0.2:
            coords[:, 0] *= 1e-3  # near x = 0, where odc-geo leaves a segment alone whatever its length
        resolution = scale / rng.integers(1, 300)
        expected = np.asarray(densify([(float(x), float(y)) for x, y in coords], resolution))
        x, y = densified(coords, resolution)
        np.testing.assert_array_equal(np.column_stack([x, y]), expected)


def utm_tiles(grids: bool = True) -> list[pystac.Item]:
    """Tiles of 60 km at 20 m in the UTM zones from 29 (lon -12) to 35 (lon 30), from 40 to 60 N, including zone
    31's tiles across the Greenwich meridian; without ``grids``, placed by their footprints."""
    from odc.geo.geobox import GeoBox

    items = []
    for index, (zone, easting, northing) in enumerate(
        (zone, easting, northing)
        for zone in range(29, 36)
        for easting in (200_000, 500_000, 740_000)
        for northing in (4_450_000, 5_550_000, 6_600_000)
    ):
        crs = f"EPSG:{32600 + zone}"
        transform = [20.0, 0.0, float(easting), 0.0, -20.0, float(northing)]
        box = GeoBox.from_bbox((easting, northing - 60_000, easting + 60_000, northing), crs, resolution=20)
        footprint = box.extent.to_crs("EPSG:4326")
        asset: dict = {"href": f"/data/{index}.tif", "type": pystac.MediaType.COG, "roles": ["data"]}
        if grids:
            asset |= {"proj:code": crs, "proj:shape": [3000, 3000], "proj:transform": transform}
        items.append(
            pystac.Item.from_dict(
                {
                    "type": "Feature",
                    "stac_version": "1.1.0",
                    "stac_extensions": ["https://stac-extensions.github.io/projection/v2.0.0/schema.json"],
                    "id": f"tile-{index}",
                    "geometry": footprint.json,
                    "bbox": list(footprint.boundingbox),
                    "properties": {"datetime": "2024-06-01T00:00:00Z"},
                    "assets": {"band": asset},
                    "links": [],
                }
            )
        )
    return items


def lake_items(lake_dir: Path) -> list[pystac.Item]:
    found = pystac.Catalog.from_file(str(lake_dir / "theia" / "catalog.json")).get_child("land-mask-europe")
    assert isinstance(found, pystac.Collection)
    return list(found.get_items(recursive=True))


@pytest.mark.parametrize("grids", [True, False], ids=["by grid", "by footprint"])
@pytest.mark.parametrize("crs", ["EPSG:32632", "EPSG:3035", "EPSG:3857", "EPSG:2154", "EPSG:32629"])
def test_the_union_is_odc_stac_s_on_tiles_across_utm_zones(crs, grids):
    parsed = list(parse_items(utm_tiles(grids)))
    assert all(bool(item.geoboxes()) == grids for item in parsed)
    assert tuple(footprints_bbox(parsed, crs)) == tuple(_compute_bbox(parsed, crs))
    for item in parsed:
        assert tuple(footprints_bbox([item], crs)) == tuple(_compute_bbox([item], crs))


@pytest.mark.parametrize("grids", [True, False], ids=["by grid", "by footprint"])
@pytest.mark.parametrize("crs", ["EPSG:3035", "EPSG:32631", "EPSG:3857"])
def test_the_union_is_odc_stac_s_on_the_lake_tiles(lake_dir, crs, grids):
    records = [StacItem.from_pystac(item) for item in lake_items(lake_dir)]
    parsed = list(parse_items([record.to_pystac(grids=grids) for record in records]))
    assert all(bool(item.geoboxes()) == grids for item in parsed)
    assert tuple(footprints_bbox(parsed, crs)) == tuple(_compute_bbox(parsed, crs))


def test_the_output_grid_is_odc_stac_s():
    parsed = list(parse_items(utm_tiles()))
    ours = stac_load.output_geobox_of_grids(
        parsed, [1] * len(parsed), ["band"], crs="EPSG:3035", resolution=100.0, bbox=None, geopolygon=None
    )
    assert ours == output_geobox(parsed, ["band"], crs="EPSG:3035", resolution=100.0)


def test_geographic_output_is_left_to_odc_geo():
    """With a geographic output CRS odc-geo cuts footprints at the antimeridian: its own path computes the union."""
    parsed = list(parse_items(utm_tiles()))
    assert footprints_bbox(parsed, "EPSG:4326") is None
    ours = stac_load.output_geobox_of_grids(
        parsed, [1] * len(parsed), ["band"], crs="EPSG:4326", resolution=0.01, bbox=None, geopolygon=None
    )
    assert ours == output_geobox(parsed, ["band"], crs="EPSG:4326", resolution=0.01)
