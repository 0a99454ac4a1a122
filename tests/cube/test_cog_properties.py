"""Property: on any item set, GAIA Lab's raster cube is odc.stac.load's, pixel for pixel, or both refuse.

Item sets are drawn at random over small GeoTIFF, COG and JPEG2000 files this module writes: several CRSs (WGS84,
UTM zones 31, 60 and 1, which meet at the antimeridian), grids that align or not, items sharing a time or not,
bands missing from some items, projection metadata complete, partial (``proj:code`` + ``proj:shape``, ``proj:epsg``
alone) or absent, 2-D and 3-D bboxes. Requests draw variables (in any order, or absent ones), a bbox (inside the
data, beyond it, or across the antimeridian), an output CRS and resolution.

Where the two may differ, on purpose and checked here:
- GAIA Lab clips a bbox to the items' footprints (odc-stac makes the grid of the whole box), so odc-stac is given
  the clipped area (``cog.query_area``); the clipping itself is tested in ``test_cog.py``.
- odc-stac refuses a band the *first* item lacks and accepts it in any other order; GAIA Lab accepts it in every
  order, and is compared with odc-stac on the same items with one that has the band first.
- A box across the antimeridian on a geographic grid: odc-stac builds a cube around the whole globe; GAIA Lab
  refuses with ``InvalidQuery(parameter="bbox")``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import dask
import numpy as np
import pytest
import rasterio
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st
from rasterio.transform import from_origin
from rasterio.warp import transform_bounds

from gaia_lab.cube import cog
from gaia_lab.cube.stac import filter_items
from gaia_lab.errors import EmptyResult, GaiaLabError, InvalidQuery
from gaia_lab.query import CubeRequest
from gaia_lab.stac_item import StacItem
from tests.cube.odc_reference import odc_stac_load

SIZE = 16
# Two regions, each with grids of several CRSs: (CRS, pixel size, grid origins). Items of one example come from one
# region, so that cubes stay small enough to compare pixel for pixel.
REGIONS: dict[str, list[tuple[str, float, list[tuple[float, float]]]]] = {
    "europe": [
        ("EPSG:4326", 0.25, [(2.0, 48.0), (3.0, 47.0), (2.125, 47.5)]),
        ("EPSG:32631", 1000.0, [(400_000.0, 5_300_000.0), (405_500.0, 5_295_000.0)]),
    ],
    # across the antimeridian: WGS84 on both sides, UTM zones 60 (west of it) and 1 (east of it)
    "pacific": [
        ("EPSG:4326", 0.25, [(177.0, 2.0), (-180.0, 1.0)]),
        ("EPSG:32660", 1000.0, [(820_000.0, 120_000.0)]),
        ("EPSG:32601", 1000.0, [(170_000.0, 100_000.0)]),
    ],
}
TARGETS = {
    "europe": [("EPSG:4326", 0.25), ("EPSG:4326", 0.5), ("EPSG:32631", 2000.0), ("EPSG:3035", 1000.0)],
    "pacific": [("EPSG:4326", 0.25), ("EPSG:3832", 1000.0), ("EPSG:32660", 2000.0)],
}
GRIDS = {
    (region, crs, index): (crs, size, origin)
    for region, grids in REGIONS.items()
    for crs, size, origins in grids
    for index, origin in enumerate(origins)
}
FORMATS = {"cog": "image/tiff; application=geotiff; profile=cloud-optimized", "jp2": "image/jp2"}
PROJ_VARIANTS = ("full", "epsg", "code-shape", "code-only", "none")
CHUNKS = {"time": 1, "x": 24, "y": 24}


def _write(path: Path, crs: str, size: float, origin: tuple[float, float], band: str, fmt: str) -> None:
    rows, cols = np.indices((SIZE, SIZE))
    values = ((rows * SIZE + cols) * (3 if band == "a" else 7) + int(abs(origin[0]) % 97)) % 1000 + 1
    values[0, :] = 0  # a row of no data
    profile: dict[str, Any] = {
        "width": SIZE,
        "height": SIZE,
        "count": 1,
        "dtype": "uint16",
        "crs": crs,
        "transform": from_origin(origin[0], origin[1], size, size),
        "nodata": 0,
    }
    if fmt == "jp2":
        profile.update(driver="JP2OpenJPEG", QUALITY=100, REVERSIBLE="YES")
    else:
        profile.update(driver="GTiff", compress="deflate", tiled=True, blockxsize=SIZE, blockysize=SIZE)
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(values.astype("uint16"), 1)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[Any, str, str], Path]:
    """Every (grid, band, format) file, written once."""
    folder = tmp_path_factory.mktemp("cog-properties")
    written = {}
    for grid, (crs, size, origin) in GRIDS.items():
        for band in ("a", "b"):
            for fmt in FORMATS:
                name = f"{grid[0]}-{crs.replace(':', '')}-{grid[2]}-{band}.{'jp2' if fmt == 'jp2' else 'tif'}"
                _write(folder / name, crs, size, origin, band, fmt)
                written[(grid, band, fmt)] = folder / name
    return written


def item_specs(region: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {
            "grid": st.sampled_from([grid for grid in GRIDS if grid[0] == region]),
            "day": st.integers(0, 2),
            "bands": st.sampled_from([("a",), ("b",), ("a", "b"), ("b", "a")]),
            "proj": st.sampled_from(PROJ_VARIANTS),
            "bbox3d": st.booleans(),
            "format": st.sampled_from(list(FORMATS)),
        }
    )


def _item(number: int, spec: dict[str, Any], files: dict[Any, Path]) -> dict[str, Any]:
    crs, size, (x0, y1) = GRIDS[spec["grid"]]
    west, south, east, north = transform_bounds(crs, "EPSG:4326", x0, y1 - size * SIZE, x0 + size * SIZE, y1)
    proj: dict[str, Any] = {
        "full": {"proj:code": crs, "proj:shape": [SIZE, SIZE], "proj:transform": [size, 0, x0, 0, -size, y1]},
        "epsg": {
            "proj:epsg": int(crs.split(":")[1]),
            "proj:shape": [SIZE, SIZE],
            "proj:transform": [size, 0, x0, 0, -size, y1],
        },
        "code-shape": {"proj:code": crs, "proj:shape": [SIZE, SIZE]},
        "code-only": {"proj:code": crs},
        "none": {},
    }[spec["proj"]]

    def ring(left: float, right: float) -> list[list[list[float]]]:
        return [[[left, south], [right, south], [right, north], [left, north], [left, south]]]

    if west > east:  # a tile across the antimeridian: its footprint in two parts (RFC 7946)
        geometry = {"type": "MultiPolygon", "coordinates": [ring(west, 180.0), ring(-180.0, east)]}
    else:
        geometry = {"type": "Polygon", "coordinates": ring(west, east)}
    bbox = [west, south, 0.0, east, north, 10.0] if spec["bbox3d"] else [west, south, east, north]
    return {
        "type": "Feature",
        "stac_version": "1.1.0",
        "stac_extensions": ["https://stac-extensions.github.io/projection/v2.0.0/schema.json"] if proj else [],
        "id": f"item-{number}",
        "collection": "property",
        "bbox": bbox,
        "geometry": geometry,
        "properties": {
            "datetime": (dt.datetime(2020, 1, 1) + dt.timedelta(days=spec["day"])).isoformat() + "Z",
            **proj,
        },
        "links": [],
        "assets": {
            band: {
                "href": str(files[(spec["grid"], band, spec["format"])]),
                "type": FORMATS[spec["format"]],
                "roles": ["data"],
                "raster:bands": [{"nodata": 0, "data_type": "uint16"}],
            }
            for band in spec["bands"]
        },
    }


@st.composite
def requests(draw: st.DrawFn, items: list[dict[str, Any]], region: str, crss: set[str]) -> dict[str, Any]:
    request: dict[str, Any] = {}
    variables = draw(st.sampled_from([None, ["a"], ["b"], ["a", "b"], ["b", "a"], ["c"]]))
    if variables:
        request["variables"] = variables
    target = draw(st.sampled_from([None, *TARGETS[region]]))
    if target is not None:
        request["crs"], request["resolution"] = target
    elif draw(st.booleans()) and len(crss) == 1:
        request["resolution"] = next(size for crs, size, _ in GRIDS.values() if crs in crss) * 2
    kind = draw(st.sampled_from(["none", "inside", "beyond", "antimeridian"]))
    boxes = [i["bbox"] for i in items]
    west, south = min(b[0] for b in boxes), min(b[1] for b in boxes)
    east, north = max(b[-3 if len(b) == 6 else 2] for b in boxes), max(b[-2 if len(b) == 6 else 3] for b in boxes)
    if kind == "inside":
        fx, fy = draw(st.floats(0.1, 0.4)), draw(st.floats(0.1, 0.4))
        request["bbox"] = (
            west + fx * (east - west),
            south + fy * (north - south),
            east - fx * (east - west),
            north - fy * (north - south),
        )
    elif kind == "beyond":
        request["bbox"] = (max(-180.0, west - 1), max(-90.0, south - 1), min(180.0, east + 1), min(90.0, north + 1))
    elif kind == "antimeridian":
        request["bbox"] = (179.5, south, -179.5, north)
    return request


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    # The same examples on every run: a CI run must not fail on a draw nobody can replay. (Random draws were run
    # many times while this was written; a new property or fix is explored with derandomize off.)
    derandomize=True,
)
@given(data=st.data(), region=st.sampled_from(list(REGIONS)))
def test_cube_equals_odc_stac_or_both_refuse(files, data, region):
    specs = data.draw(st.lists(item_specs(region), min_size=1, max_size=4))
    items = [_item(n, spec, files) for n, spec in enumerate(specs)]
    raw = data.draw(requests(items, region, {GRIDS[spec["grid"]][0] for spec in specs}))
    request = CubeRequest.parse(**raw, chunks=CHUNKS)
    note(f"items: {[(s['grid'], s['day'], s['bands'], s['proj'], s['format']) for s in specs]}; request: {raw}")
    records = [StacItem.from_dict(i) for i in items]
    our_error = reference_error = None
    try:
        # The path of an entry's open: items whose footprint and time miss the request are left out first.
        kept = filter_items(records, request, "property")
    except EmptyResult as nothing:
        # No item's footprint meets the box: odc-stac would make a cube of the box holding no data.
        assert nothing.parameter == "bbox" and not any(request.bbox.intersects(r.bbox) for r in records)
        return
    try:
        ours, _ = cog.open_raster_items(kept, request, entry_id="property")
    except GaiaLabError as refusal:
        ours, our_error = None, refusal
    # Without variables: every data asset of the items kept, in the order first seen.
    wanted = list(request.variables or dict.fromkeys(k for r in kept for k in r.assets))
    try:
        area = cog.query_area(kept, cog.select_bands(kept, request.variables, "property"), request, "property")
    except GaiaLabError:
        area = {"bbox": request.bbox} if request.bbox else {}
    try:
        reference = odc_stac_load(
            [i for i in items if i["id"] in {r.id for r in kept}],
            wanted,
            chunks=CHUNKS,
            dtype="float32",
            crs=request.crs,
            resolution=request.resolution,
            geobox=ours.odc.geobox if ours is not None else None,
            **area,
        )
    except Exception as refusal:  # odc-stac raises ValueError / KeyError families
        reference, reference_error = None, refusal
    note(f"ours: {'opened' if ours is not None else our_error}")
    note(f"odc-stac: {'opened' if reference is not None else reference_error}")

    if ours is None:
        assert isinstance(our_error, InvalidQuery), our_error
        if reference is not None:
            # The one refusal odc-stac does not share: a box across the antimeridian on a geographic grid, for which
            # it builds a cube around the globe, or around the longitudes the box leaves out (it swaps west and
            # east): its cube holds the middle of the gap between the box's east and west edges.
            assert our_error.parameter == "bbox" and request.bbox is not None and request.bbox.crosses_antimeridian
            assert reference.odc.geobox.crs.geographic
            extent = reference.odc.geobox.extent.boundingbox
            gap = (request.bbox.east + request.bbox.west) / 2
            assert extent.left <= gap <= extent.right
            return
        # Both refuse: ours must name a parameter that the inputs make wrong.
        every_asset = {k for r in kept for k in r.assets}
        causes = set()
        if request.variables and not set(request.variables) <= every_asset:
            causes.add("variables")
        if "auto-guess" in str(reference_error):
            causes.update(("crs", "resolution"))
        assert our_error.parameter in causes, (our_error, reference_error)
        return
    assert reference is not None, f"odc-stac refused what GAIA Lab opened: {reference_error!r}"
    assert ours.odc.geobox == reference.odc.geobox
    assert list(ours.data_vars) == wanted
    np.testing.assert_array_equal(ours["time"].values, reference["time"].values)
    if request.bbox is not None and request.bbox.crosses_antimeridian:
        # Across the antimeridian the cube is the 1-degree strip asked for (or the side of it holding data), not
        # the globe.
        span = ours.odc.geobox.extent.boundingbox.span_x
        assert span <= 1.5 if ours.odc.geobox.crs.geographic else span < 500_000
    # Sources far from a cube's grid (a UTM zone 60 tile on a globe-wide WGS84 cube) give odc-geo NaN coordinates
    # while it works out which pixels they cover: numpy's warning is about those, not about the data.
    with dask.config.set(scheduler="sync"), np.errstate(invalid="ignore"):
        for name in wanted:
            assert ours[name].dtype == np.float32
            expected = reference[name].where(reference[name] != 0).values
            np.testing.assert_array_equal(ours[name].values, expected)
