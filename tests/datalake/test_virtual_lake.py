"""The lake's NetCDF archive (OSTIA, one file per month) published as a virtual Zarr store: it opens from the
lake, from a copy of the lake and from the lake server over HTTP (references relative to the files), with the
values of the lake's Zarr copy of the same data; a file changed in the lake is refused by name."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from catalogue_servers import StaticServer, serve_directory

import gaia_lab as gl
from gaia_lab.cube.virtual import check_virtual
from gaia_lab.errors import AssetError

ENTRY = "odatis/ostia-sst-virtual"
BOX = (-80, -20, 0, 20)


@pytest.fixture(scope="module")
def lake_server(lake_dir: Path) -> Iterator[StaticServer]:
    server = serve_directory(lake_dir)
    yield server
    server.stop()


def _assert_same_as_zarr(cube: object, catalog: gl.Catalog) -> None:
    expected = catalog["odatis/ostia-sst"].to_xarray(bbox=BOX)
    np.testing.assert_array_equal(cube["sst"].values, expected["sst"].values)  # type: ignore[index]
    np.testing.assert_array_equal(cube["time"].values, expected["time"].values)  # type: ignore[index]


def test_the_archive_is_one_virtual_cube(lake_dir: Path, lake_catalog: gl.Catalog) -> None:
    files = sorted((lake_dir / "odatis" / "ostia-sst-virtual" / "netcdf").glob("*.nc"))
    assert len(files) == 54
    found = lake_catalog.search("température de surface de la mer", hubs=["ocean"])
    assert ENTRY in [entry.id for entry in found]
    cube = lake_catalog[ENTRY].to_xarray(bbox=BOX)
    assert cube.sizes["time"] == 54
    _assert_same_as_zarr(cube, lake_catalog)
    recorded, changed = check_virtual(str(lake_dir / "odatis" / "ostia-sst-virtual" / "references.json"))
    assert len(recorded) == 54 and changed == []


def test_it_opens_over_http_from_the_lake_server(lake_server: StaticServer, lake_catalog: gl.Catalog) -> None:
    catalog = gl.open_catalog(
        {
            "providers": [
                {"name": "odatis", "hub": "ocean", "type": "stac", "url": f"{lake_server.url}/odatis/catalog.json"}
            ]
        }
    )
    cube = catalog[ENTRY].to_xarray(bbox=BOX)
    assert cube.attrs["gaia:assets"] == [f"{lake_server.url}/odatis/ostia-sst-virtual/references.json"]
    _assert_same_as_zarr(cube, lake_catalog)
    href = f"{lake_server.url}/odatis/ostia-sst-virtual/collection.json"
    _assert_same_as_zarr(gl.open_datacube(href, bbox=BOX), lake_catalog)


def test_a_copied_lake_opens_and_a_changed_file_is_refused(lake_copy: Path, lake_catalog: gl.Catalog) -> None:
    catalog = gl.open_catalog(lake_copy / "federation.yaml")
    _assert_same_as_zarr(catalog[ENTRY].to_xarray(bbox=BOX), lake_catalog)
    changed_file = sorted((lake_copy / "odatis" / "ostia-sst-virtual" / "netcdf").glob("*.nc"))[10]
    stat = changed_file.stat()
    os.utime(changed_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 3_000_000_000))
    cube = catalog[ENTRY].to_xarray(bbox=BOX)
    with pytest.raises(AssetError, match=changed_file.name) as caught:
        _ = cube["sst"].isel(time=10).values
    assert "changed" in str(caught.value)
    assert cube["sst"].isel(time=9).shape == (18, 97)
