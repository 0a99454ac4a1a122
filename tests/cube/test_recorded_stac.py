"""Cubes from STAC metadata recorded from public services (tests/data/stac, provenance in PROVENANCE.md): Earth
Search, Planetary Computer, USGS LandsatLook, Digital Earth Australia, Copernicus Data Space, GEODES (CNES), VITO
Terrascope, NASA CMR, an eoAPI demo.

For every collection, the cube GAIA Lab opens has the dims, shape, dtype, CRS, coordinates and, chunk by chunk,
the files odc.stac.load reads for the same items and request. The hrefs stay remote: no test here opens a socket
or a file of theirs (both are refused by a fixture), so each cube is checked from its metadata and its dask graph.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import numpy as np
import pystac
import pytest
import rasterio
import yaml

from gaia_lab.cube import open_stac
from gaia_lab.cube.cog import query_area, select_bands
from gaia_lab.errors import AssetError, EmptyResult, InvalidQuery
from gaia_lab.query import CubeRequest
from gaia_lab.stac_item import RASTER_FORMATS, StacItem, asset_format
from tests.cube.odc_reference import chunk_sources, odc_stac_load

DATA = Path(__file__).resolve().parents[1] / "data" / "stac"
COLLECTIONS = {c["path"]: c for c in yaml.safe_load((DATA / "manifest.yaml").read_text())["collections"]}
CHUNKS = {"time": 1, "x": 1024, "y": 1024}


def documents(path: str) -> list[dict[str, Any]]:
    features: list[dict[str, Any]] = json.loads((DATA / path / "items.json").read_text())["features"]
    return features


def collection_of(path: str, items: list[dict[str, Any]]) -> pystac.Collection:
    """The recorded collection document, or one made from the items (the recorded responses hold items only)."""
    recorded = DATA / path / "collection.json"
    if recorded.exists():
        return pystac.Collection.from_dict(json.loads(recorded.read_text()))
    return pystac.Collection(
        id=path.rsplit("/", 1)[1],
        description="recorded items",
        extent=pystac.Extent(pystac.SpatialExtent([[-180, -90, 180, 90]]), pystac.TemporalExtent([[None, None]])),
    )


def has_raster_data(path: str) -> bool:
    return any(
        asset_format(a) in RASTER_FORMATS and "://" in a["href"] for i in documents(path) for a in i["assets"].values()
    )


def fully_gridded(path: str) -> bool:
    records = [StacItem.from_dict(i) for i in documents(path)]
    return all(
        r.grids[k] is not None for r in records for k, a in r.data_assets().items() if asset_format(a) in RASTER_FORMATS
    )


RASTER = sorted(p for p in COLLECTIONS if has_raster_data(p))
WITHOUT_RASTER = sorted(p for p in COLLECTIONS if not has_raster_data(p))


@pytest.fixture(autouse=True)
def no_network_and_no_pixels(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"a recorded-metadata test tried to reach data: {args[:2]}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(rasterio, "open", refuse)


def small_box(item: dict[str, Any], fraction: float = 0.05) -> tuple[float, float, float, float]:
    """A box at the middle of an item's footprint, ``fraction`` of its size."""
    record = StacItem.from_dict(item)
    assert record.bbox is not None
    part = max(record.bbox.parts(), key=lambda p: p.east - p.west)
    x, y = (part.west + part.east) / 2, (part.south + part.north) / 2
    half_x, half_y = (part.east - part.west) * fraction / 2, (part.north - part.south) * fraction / 2
    return (x - half_x, y - half_y, x + half_x, y + half_y)


def requests_for(path: str) -> list[dict[str, Any]]:
    """A small box in the middle of the first item (native grid when the items give one), and every item on a
    coarse WGS84 grid: several UTM zones in one cube."""
    items = documents(path)
    first = next(i for i in items if any(asset_format(a) in RASTER_FORMATS for a in i["assets"].values()))
    grid: dict[str, Any] = {} if fully_gridded(path) else {"crs": "EPSG:3857", "resolution": 100.0}
    return [{"bbox": small_box(first), **grid}, {"crs": "EPSG:4326", "resolution": 0.05}]


def open_recorded(path: str, **query: Any) -> Any:
    items = documents(path)
    request = CubeRequest.parse(**query, chunks=CHUNKS)
    return open_stac(
        collection_of(path, items), request, entry_id=path, items=[StacItem.from_dict(i) for i in items]
    ), request


def reference_for(path: str, ours: Any, request: CubeRequest) -> Any:
    """odc.stac.load on the items the request keeps, for the variables GAIA Lab chose, on the same area."""
    from gaia_lab.cube.stac import filter_items

    records = filter_items([StacItem.from_dict(i) for i in documents(path)], request, path)
    kept = {r.id for r in records}
    bands = list(ours.data_vars)
    selected = select_bands(records, bands, path)
    area = query_area(records, selected, request, path)
    dtype = "float32" if all(ours[b].dtype == np.float32 for b in bands) else None
    items = [i for i in documents(path) if i["id"] in kept]
    return odc_stac_load(
        items,
        bands,
        chunks=CHUNKS,
        dtype=dtype,
        crs=request.crs,
        resolution=request.resolution,
        geobox=ours.odc.geobox,
        asset_keys=[band.key for band in selected],
        **area,
    )


@pytest.mark.parametrize("path", RASTER)
@pytest.mark.parametrize("which", [0, 1], ids=["small-box", "every-item"])
def test_cube_matches_odc_stac_chunk_by_chunk(path, which):
    query = requests_for(path)[which]
    ours, request = open_recorded(path, **query)
    reference = reference_for(path, ours, request)
    assert ours.odc.geobox == reference.odc.geobox
    assert dict(ours.sizes) == dict(reference.sizes)
    assert ours.rio.crs == reference.odc.crs.to_wkt() or ours.odc.crs == reference.odc.crs
    for coordinate in ("time", *ours.odc.spatial_dims):
        np.testing.assert_array_equal(ours[coordinate].values, reference[coordinate].values)
    for band in ours.data_vars:
        assert ours[band].dtype == reference[band].dtype
        assert ours[band].chunks == reference[band].chunks
        ours_sources, reference_sources = chunk_sources(ours[band]), chunk_sources(reference[band])
        assert ours_sources, f"{band}: no chunk reads a file"
        assert ours_sources == reference_sources, band


@pytest.mark.parametrize("path", WITHOUT_RASTER)
def test_collections_without_raster_assets_say_which_assets_they_have(path):
    with pytest.raises((AssetError, EmptyResult)) as info:
        open_recorded(path, crs="EPSG:3857", resolution=100)
    assert isinstance(info.value, AssetError)
    assert "unsupported media type" in str(info.value) or "no data asset" in str(info.value)


# --- the failures each of these recordings once showed --------------------------------------------------------------


def test_items_without_a_transform_are_placed_by_their_own_footprints():
    """CDSE's Sentinel-2 global mosaic carries proj:code and proj:shape but no proj:transform. Two of its tiles
    5 degrees apart make a cube holding both (they were once both placed where the first one lies)."""
    path = "cdse/sentinel-2-global-mosaics"
    (tile,) = documents(path)
    moved = json.loads(json.dumps(tile))
    moved["id"] += "-east"
    west, south, east, north = moved["bbox"]
    moved["bbox"] = [west + 5, south, east + 5, north]
    moved["geometry"]["coordinates"] = [[[x + 5, y] for x, y in ring] for ring in moved["geometry"]["coordinates"]]
    for asset in moved["assets"].values():
        asset["href"] = asset["href"].replace("_0_0", "_0_5")
    request = CubeRequest.parse(crs="EPSG:4326", resolution=0.01, variables=["B04"], chunks=CHUNKS)
    records = [StacItem.from_dict(tile), StacItem.from_dict(moved)]
    cube = open_stac(collection_of(path, [tile]), request, entry_id=path, items=records)
    reference = odc_stac_load([tile, moved], ["B04"], chunks=CHUNKS, crs="EPSG:4326", resolution=0.01)
    assert cube.odc.geobox == reference.odc.geobox
    width = cube.odc.geobox.extent.boundingbox.span_x
    assert width == pytest.approx(east + 5 - west, abs=0.02)
    read = {href for sources in chunk_sources(cube["B04"]).values() for href in sources}
    assert read == {tile["assets"]["B04"]["href"], moved["assets"]["B04"]["href"]}
    with pytest.raises(InvalidQuery, match="proj:transform") as info:
        open_stac(collection_of(path, [tile]), CubeRequest(), entry_id=path, items=records)
    assert info.value.parameter == "crs"


def test_items_with_proj_epsg_only_open_on_the_grid_asked_for():
    for path in (
        "dea/fc_percentile_albers_annual",
        "vito-terrascope/copernicus_r_utm-wgs84_10_m_hrvpp-vpp_p_2017-now_v01",
    ):
        items = documents(path)
        with pytest.raises(InvalidQuery) as info:
            open_recorded(path)
        assert info.value.parameter == "crs"
        if not has_raster_data(path):
            continue
        cube, request = open_recorded(path, crs="EPSG:3035", resolution=1000)
        reference = reference_for(path, cube, request)
        assert cube.odc.geobox == reference.odc.geobox and cube.odc.crs == "EPSG:3035"
        assert {k for k in items[0]["assets"] if k in cube.data_vars}


def test_a_3d_bbox_is_a_footprint():
    path = "planetary-computer/3dep-lidar-copc"
    (item,) = documents(path)
    assert len(item["bbox"]) == 6
    record = StacItem.from_dict(item)
    west, south, _, east, north, _ = item["bbox"]
    assert record.bbox == (west, south, east, north)
    from gaia_lab.cube.stac import filter_items

    inside = CubeRequest.parse(bbox=((west + east) / 2, (south + north) / 2, east, north))
    assert filter_items([record], inside, path) == [record]


@pytest.mark.parametrize(
    "path", ["earth-search/landsat-c2-l2", "planetary-computer/landsat-c2-l2", "usgs-landsatlook/landsat-c2l2-sr"]
)
def test_landsat_qa_pixel_opens_by_name_whatever_its_roles(path):
    roles = {tuple(i["assets"]["qa_pixel"]["roles"]) for i in documents(path)}
    assert all("data" not in r for r in roles)  # cloud, cloud-shadow, ...: not a data asset
    query = {**requests_for(path)[0], "variables": ["qa_pixel", "red"]}
    cube, request = open_recorded(path, **query)
    assert list(cube.data_vars) == ["qa_pixel", "red"]  # in the order asked for
    reference = reference_for(path, cube, request)
    assert chunk_sources(cube["qa_pixel"]) == chunk_sources(reference["qa_pixel"])
    assert "qa_pixel" not in open_recorded(path, **requests_for(path)[0])[0].data_vars


def test_jpeg2000_assets_open_beside_cogs():
    only_jp2, _ = open_recorded("earth-search/sentinel-2-l1c", **requests_for("earth-search/sentinel-2-l1c")[0])
    hrefs = {h for band in only_jp2.data_vars for s in chunk_sources(only_jp2[band]).values() for h in s}
    assert hrefs and all(h.endswith(".jp2") for h in hrefs)
    both, _ = open_recorded("earth-search/sentinel-2-l2a", **requests_for("earth-search/sentinel-2-l2a")[0])
    assert {"red", "red-jp2", "scl", "scl-jp2"} <= set(both.data_vars)
    assert "visual" not in both.data_vars and "thumbnail" not in both.data_vars
    assert both["red"].shape == both["red-jp2"].shape


def test_a_band_some_items_lack_is_no_data_there_and_named():
    path = "usgs-landsatlook/landsat-c2l2-sr"
    items = documents(path)
    without = sorted(i["id"] for i in items if "coastal" not in i["assets"])
    assert without and len(without) < len(items)
    cube, request = open_recorded(path, variables=["coastal", "red"], crs="EPSG:4326", resolution=0.05)
    assert f"{len(without)} of {len(items)}" in cube["coastal"].attrs["gaia:items_without"]
    assert without[0] in cube["coastal"].attrs["gaia:items_without"]
    reference = reference_for(path, cube, request)
    assert chunk_sources(cube["coastal"]) == chunk_sources(reference["coastal"])
    with pytest.raises(InvalidQuery, match="coastal") as info:
        open_recorded(path, variables=["coastal"], bbox=small_box(next(i for i in items if i["id"] == without[0])))
    assert info.value.parameter == "variables"


def test_an_item_across_the_antimeridian():
    path = "usgs-landsatlook/landsat-c2l2-sr"
    crossing = next(i for i in documents(path) if i["bbox"][0] > i["bbox"][2])
    _, south, _, north = crossing["bbox"]
    box = (179.5, (south + north) / 2 - 0.25, -179.5, (south + north) / 2 + 0.25)
    with pytest.raises(InvalidQuery, match="antimeridian") as info:
        open_recorded(path, bbox=box, variables=["red"], crs="EPSG:4326", resolution=0.01)
    assert info.value.parameter == "bbox"
    cube, request = open_recorded(path, bbox=box, variables=["red"], crs="EPSG:32601", resolution=100)
    span = cube.odc.geobox.extent.to_crs("EPSG:4326").boundingbox
    assert cube.odc.geobox.extent.boundingbox.span_x < 120_000  # about one degree at that latitude, in metres
    assert span.span_y == pytest.approx(0.5, abs=0.05)
    reference = reference_for(path, cube, request)
    assert chunk_sources(cube["red"]) == chunk_sources(reference["red"])
