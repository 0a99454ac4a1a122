"""The biodiversity hub (PNDB) of the demo lake: GeoParquet files that GeoParquet readers accept, STAC collections
with the table extension, found by searches in English and in French."""

from __future__ import annotations

import json
import subprocess

import geopandas as gpd
import pyarrow.parquet as pq
import pystac
import pytest
from pyproj import CRS

from gaia_lab.datalake import biodiversity

COLLECTIONS = {"doubs-fish": 30, "oribatid-mites": 70, "bci-trees": 50}


@pytest.fixture(scope="module")
def pndb(lake_dir) -> pystac.Catalog:
    if biodiversity.doubs_sources() is None or biodiversity.bci_sources() is None:
        pytest.skip("Debian r-cran-ade4 / r-cran-vegan not unpacked: run scripts/fetch-debian-sources.sh .cache/debian")
    return pystac.Catalog.from_file(str(lake_dir / "pndb" / "catalog.json"))


def test_the_hub_lists_three_community_tables(pndb, lake_dir):
    assert pndb.extra_fields["gaia:hub"] == "biodiversity"
    assert {c.id for c in pndb.get_collections()} == set(COLLECTIONS)
    federation = (lake_dir / "federation.yaml").read_text()
    assert "name: pndb" in federation and "hub: biodiversity" in federation


@pytest.mark.parametrize("collection_id", sorted(COLLECTIONS))
def test_collections_use_the_table_extension(pndb, collection_id):
    collection = pndb.get_child(collection_id)
    assert isinstance(collection, pystac.Collection)
    assert any("/table/" in e for e in collection.stac_extensions)
    assert collection.extra_fields["table:primary_geometry"] == "geometry"
    assert collection.extra_fields["table:row_count"] == COLLECTIONS[collection_id]
    asset = collection.assets["data"]
    assert asset.media_type == "application/vnd.apache.parquet" and asset.roles == ["data"]
    columns = {c["name"]: c for c in collection.extra_fields["table:columns"]}
    frame = gpd.read_parquet(asset.get_absolute_href())
    # every column of the file is described (geopandas hides the bbox covering column)
    assert set(columns) == set(pq.read_schema(asset.get_absolute_href()).names)
    assert set(columns) - {"bbox"} == set(frame.columns)
    assert len(frame) == COLLECTIONS[collection_id]
    species = [n for n, c in columns.items() if c.get("gaia:role") == "species"]
    assert len(species) == collection.extra_fields["gaia:species_count"]
    # the asset's projection fields and the file's CRS agree
    crs = CRS.from_user_input(asset.extra_fields.get("proj:wkt2") or asset.extra_fields["proj:code"])
    assert crs.equals(frame.crs)
    assert collection.license and collection.providers and any("PNDB" in p.name for p in collection.providers)


def test_geoparquet_files_are_version_1_1_with_a_bbox_covering(pndb):
    for collection in pndb.get_collections():
        path = collection.assets["data"].get_absolute_href()
        geo = json.loads(pq.read_schema(path).metadata[b"geo"])
        assert geo["version"] == "1.1.0" and geo["primary_column"] == "geometry"
        assert geo["columns"]["geometry"]["geometry_types"] == ["Point"]
        assert "bbox" in geo["columns"]["geometry"]["covering"]


def test_only_bci_is_georeferenced(pndb):
    flags = {c.id: c.extra_fields["gaia:georeferenced"] for c in pndb.get_collections()}
    assert flags == {"doubs-fish": False, "oribatid-mites": False, "bci-trees": True}
    west, south, east, north = pndb.get_child("bci-trees").extent.spatial.bboxes[0]
    assert -79.9 < west < east < -79.8 and 9.1 < south < north < 9.2  # Barro Colorado Island, Panama


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("fish abundance", "pndb/doubs-fish"),
        ("poissons", "pndb/doubs-fish"),
        ("ichtyofaune", "pndb/doubs-fish"),  # only through the thesaurus (fish concept)
        ("biodiversité", "pndb/bci-trees"),
        ("species diversity", "pndb/oribatid-mites"),  # thesaurus: biodiversity concept
        ("richesse spécifique", "pndb/doubs-fish"),
        ("inventaire forestier", "pndb/bci-trees"),
        ("acariens", "pndb/oribatid-mites"),
    ],
)
def test_search_finds_the_hub_in_english_and_french(pndb, lake_catalog, query, expected):
    found = [entry.id for entry in lake_catalog.search(q=query)]
    assert expected in found[:3], (query, found[:5])


def test_search_by_hub_and_bbox(pndb, lake_catalog):
    found = {entry.id for entry in lake_catalog.search(hubs=["biodiversity"], bbox=(-80, 9, -79, 10))}
    assert "pndb/bci-trees" in found and "pndb/doubs-fish" not in found


def test_the_hub_passes_stac_validator(pndb, lake_dir):
    from tests.datalake.test_build import VALIDATE
    from tests.stac_servers import VENVS_ROOT

    validator = VENVS_ROOT / ".venv-stac-validator" / "bin" / "python"
    if not validator.exists():
        pytest.skip("run scripts/install-stac-servers.sh (stac-validator venv)")
    result = subprocess.run(
        [str(validator), "-c", VALIDATE, str(lake_dir / "pndb" / "catalog.json")],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["ok"], [m for m in report["messages"] if not m.get("valid_stac")][:3]
    assert len(report["messages"]) == 4  # the catalog and its three collections


@pytest.mark.parametrize("collection_id", sorted(COLLECTIONS))
def test_the_datacube_fields_describe_the_cube_that_opens(pndb, lake_catalog, collection_id):
    from pystac.extensions.datacube import DatacubeExtension

    collection = pndb.get_child(collection_id)
    cube = DatacubeExtension.ext(collection)
    assert cube.dimensions["geometry"].dim_type == "geometry"
    ds = lake_catalog[f"pndb/{collection_id}"].to_xarray()
    assert set(cube.variables) == set(ds.data_vars)
    for name, variable in cube.variables.items():
        assert tuple(variable.dimensions) == ds[name].dims, name
    assert cube.dimensions["species"].values == list(ds["species"].values)
    west, south, east, north = cube.dimensions["geometry"].to_dict()["bbox"]
    x, y = ds["geometry"].values[0].x, ds["geometry"].values[0].y
    assert west <= x <= east and south <= y <= north
    assert lake_catalog[f"pndb/{collection_id}"].variables == list(cube.variables)
