"""intake 2 catalogues and intake-esm datastores as federation providers, on the demo lake's Zarr stores."""

from __future__ import annotations

import dask.array
import intake
import numpy as np
import pytest
import xarray as xr
from intake.readers.datatypes import Zarr
from intake.readers.readers import XArrayDatasetReader

import gaia_lab as gl
from gaia_lab.errors import EntryNotFound, ProviderError


@pytest.fixture
def intake_catalog(lake_dir, tmp_path):
    store = lake_dir / "aeris" / "tmy3-stations" / "tmy3-stations.zarr"
    catalog = intake.entry.Catalog()
    catalog["tmy3"] = XArrayDatasetReader(
        Zarr(url=str(store)),
        chunks={},
        metadata={
            "title": "Station weather, typical meteorological year",
            "hub": "atmosphere",
            "keywords": ["weather station", "solar irradiance"],
            "variables": ["ghi", "temp_air"],
            "bbox": [-80.0, 36.0, -70.0, 45.0],
            "datetime": "1990-01-01/1991-01-01",
        },
    )
    path = tmp_path / "stations.yaml"
    catalog.to_yaml_file(str(path))
    return gl.open_catalog(
        {"providers": [{"name": "stations", "hub": "atmosphere", "type": "intake", "url": str(path)}]}
    )


def test_intake_entries_are_searched_with_the_thesaurus(intake_catalog):
    results = intake_catalog.search("rayonnement solaire", bbox=(-79, 40, -78, 41))
    assert [e.id for e in results] == ["stations/tmy3"]
    assert not intake_catalog.search(bbox=(0, 0, 1, 1))
    assert not intake_catalog.search(datetime="2020")


def test_intake_entries_open_lazily_and_subset(intake_catalog, lake_dir):
    ds = intake_catalog["stations/tmy3"].to_xarray(variables=["ghi"], datetime="1990-06")
    assert isinstance(ds["ghi"].data, dask.array.Array)
    direct = xr.open_zarr(lake_dir / "aeris" / "tmy3-stations" / "tmy3-stations.zarr")["ghi"]
    expected = direct.sel(time=slice("1990-06-01", "1990-06-30T23:59:59"))
    np.testing.assert_array_equal(ds["ghi"].values, expected.values)
    with pytest.raises(EntryNotFound, match="tmy3"):
        intake_catalog["stations/nope"]


def test_intake_esm_datasets_aggregate_and_open(lake_catalog):
    results = lake_catalog.search("A1B", providers=["climeri-esm"])
    assert results[0].local_id == "SRES.MOHC.UM-6.05.A1B.mon"  # the other scenario follows, as a climate run
    entry = results[0]
    assert entry.variables == ["tas"]
    assert entry.datetime[0].year == 1860
    ds = entry.to_xarray(bbox=(-100, 30, -90, 40), datetime="2000/2009")
    assert ds["tas"].sizes["time"] == 10
    assert float(ds["longitude"].min()) >= -101


def test_a_broken_intake_catalogue_is_a_provider_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("entries: [not, a, catalogue\n")
    catalog = gl.open_catalog({"providers": [{"name": "bad", "hub": "land", "type": "intake", "url": str(bad)}]})
    results = catalog.search()
    assert isinstance(results.errors["bad"], ProviderError)
