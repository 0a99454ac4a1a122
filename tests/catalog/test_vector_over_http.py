"""The biodiversity hub read over HTTP from the platform's lake server (Range requests through fsspec), as the
platform's sessions read it: same cube, same GeoDataFrame as from the local files."""

from __future__ import annotations

from typing import Any

import pytest
import xarray as xr

import gaia_lab as gl
from gaia_lab.datalake import biodiversity
from gaia_lab.errors import AssetError

BOX = (-79.856, 9.149, -79.851, 9.151)  # the south-west corner of the Barro Colorado plot


@pytest.fixture(scope="module")
def remote(lake_http: Any) -> gl.Catalog:
    if biodiversity.bci_sources() is None:
        pytest.skip("Debian r-cran-vegan not unpacked: run scripts/fetch-debian-sources.sh .cache/debian")
    return gl.open_catalog(f"{lake_http.url}/lake/federation.yaml")


def test_a_remote_vector_cube_equals_the_local_one(remote: gl.Catalog, lake_catalog: gl.Catalog) -> None:
    entry = remote["pndb/bci-trees"]
    assert entry.assets["data"].startswith("http://127.0.0.1:")
    far = entry.to_xarray(bbox=BOX)
    near = lake_catalog["pndb/bci-trees"].to_xarray(bbox=BOX)
    assert 0 < far.sizes["geometry"] < 50
    xr.testing.assert_identical(far.drop_attrs().compute(), near.drop_attrs().compute())
    frame = entry.to_geopandas(bbox=BOX, variables=["Habitat", "EnvHet"])
    assert list(frame["site"]) == list(near["site"].values)
    assert list(frame["Habitat"]) == list(near["Habitat"].values)


def test_a_missing_remote_table_names_its_url(lake_http: Any) -> None:
    href = f"{lake_http.url}/lake/pndb/bci-trees/nothing-here.parquet"
    with pytest.raises(AssetError) as info:
        gl.open_datacube(href)
    assert info.value.href == href


@pytest.mark.parametrize("server", ["pgstac_api", "geoparquet_api"])
def test_a_table_collection_opens_through_stac_apis(
    server: str, request: pytest.FixtureRequest, lake_catalog: gl.Catalog
) -> None:
    """Served by a STAC API, the collection opens from its GeoParquet asset without an item search."""
    if biodiversity.bci_sources() is None:
        pytest.skip("Debian r-cran-vegan not unpacked: run scripts/fetch-debian-sources.sh .cache/debian")
    api = request.getfixturevalue(server)
    catalog = gl.open_catalog({"providers": [{"name": "api", "hub": "biodiversity", "type": "stac", "url": api.url}]})
    far = catalog["api/bci-trees"].to_xarray(bbox=BOX)
    near = lake_catalog["pndb/bci-trees"].to_xarray(bbox=BOX)
    xr.testing.assert_identical(far.drop_attrs().compute(), near.drop_attrs().compute())
    assert len(catalog["api/doubs-fish"].to_geopandas()) == 30
