"""The portal's offline base map (Natural Earth from a package) and its quicklooks drawn from real cubes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import gaia_lab as gl
from gaia_lab.portal import basemap, quicklook


def test_the_base_map_is_natural_earth_land_from_a_package(tmp_path: Path) -> None:
    path = basemap.geojson(tmp_path)
    data = json.loads(path.read_text())
    names = {feature["properties"]["NAME"] for feature in data["features"]}
    assert {"France", "Brazil", "Australia"} <= names
    assert all(feature["geometry"]["type"] in ("Polygon", "MultiPolygon") for feature in data["features"])
    assert basemap.geojson(tmp_path) == path  # written once


@pytest.mark.parametrize("entry_id", ["odatis/ostia-sst", "aeris/meteosat-bt108", "formater/elevation-5min"])
def test_quicklooks_are_png_images_of_the_data(lake_catalog: gl.Catalog, tmp_path: Path, entry_id: str) -> None:
    from PIL import Image

    path = quicklook.render(lake_catalog, entry_id, tmp_path)
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size[0] >= 300
        colours = image.convert("RGB").getcolors(maxcolors=1_000_000)
    assert colours is not None and len(colours) > 50  # a drawn field, not a blank frame
    assert quicklook.render(lake_catalog, entry_id, tmp_path) == path  # cached


def test_a_missing_entry_is_named(lake_catalog: gl.Catalog, tmp_path: Path) -> None:
    with pytest.raises(gl.GaiaLabError, match="odatis/no-such"):
        quicklook.render(lake_catalog, "odatis/no-such", tmp_path)
