"""intake 2 catalogues and intake-esm datastores as federation providers, on the demo lake's Zarr stores."""

from __future__ import annotations

import json

import dask.array
import intake
import numpy as np
import pytest
import xarray as xr
from intake.readers.datatypes import Zarr
from intake.readers.readers import XArrayDatasetReader

import gaia_lab as gl
from gaia_lab.catalog.federation import parse_federation
from gaia_lab.catalog.providers.intake_esm import IntakeEsmProvider, _table_of
from gaia_lab.errors import EntryNotFound, ProviderError
from gaia_lab.query import Query


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


def _esm_provider(url):
    config = parse_federation({"providers": [{"name": "esm", "hub": "climate", "type": "intake-esm", "url": str(url)}]})
    return IntakeEsmProvider(config[0])


def _entries(provider):
    return [
        (e.id, e.title, e.description, e.bbox, e.datetime, e.variables, e.keywords, e.formats, e.assets, e.source)
        for e in provider.search(Query.parse())
    ]


def _entries_through_intake_esm(url):
    provider = _esm_provider(url)
    provider.__dict__["table"] = _table_of(provider.datastore)  # the rows of intake-esm's DataFrame
    return _entries(provider)


# A datastore with missing cells (a row missing a groupby attribute belongs to no dataset), text that looks like
# numbers, padded values and periods given as start/end columns.
_ODD_DATASTORE = """activity_id,source_id,member,variable_id,path,format,start_time,end_time,title,standard_name
A,M1,1,tas,/a.nc,netcdf,2000-01,2000-12,T one,air_temperature
A,M1,1,,/b.nc,,2001-01,,T one,
A,,2,tas,/c.nc,netcdf,,,,
B,M2,007, tas ,/d.nc,zarr,1999,2003,,x
B,M2,007,pr,/e.nc,zarr,1998,2002,,x
"""


def _write_datastore(directory, csv_text, *, groupby=("activity_id", "source_id", "member"), assets="path"):
    (directory / "store.csv").write_text(csv_text)
    collection = {
        "esmcat_version": "0.1.0",
        "id": "odd",
        "description": "odd cells",
        "catalog_file": "store.csv",
        "attributes": [],
        "assets": {"column_name": assets, "format_column_name": "format"},
        "aggregation_control": {"variable_column_name": "variable_id", "groupby_attrs": list(groupby)},
    }
    (directory / "store.json").write_text(json.dumps(collection))
    return directory / "store.json"


def test_intake_esm_search_reads_the_datastore_itself_as_intake_esm_reads_it(lake_dir, tmp_path):
    for url in (lake_dir / "climeri" / "esm-datastore.json", _write_datastore(tmp_path, _ODD_DATASTORE)):
        provider = _esm_provider(url)
        found = _entries(provider)
        assert found and "datastore" not in provider.__dict__  # searched without loading intake-esm's datastore
        assert found == _entries_through_intake_esm(url)
    ids = [entry[0] for entry in found]
    assert ids == ["esm/A.M1.1", "esm/B.M2.007"]  # sorted keys; the row without a source_id is no dataset


def test_intake_esm_tables_the_direct_reader_is_unsure_of_are_read_by_intake_esm(tmp_path):
    url = _write_datastore(tmp_path, 'a,b\n"x,y",""\n', groupby=("a",), assets="b")  # a quoted empty cell: ""
    provider = _esm_provider(url)
    found = _entries(provider)
    assert "datastore" in provider.__dict__
    assert [(e[0], e[8]) for e in found] == [("esm/x,y", {"0": ""})]
    assert found == _entries_through_intake_esm(url)


def test_a_missing_intake_esm_datastore_is_a_provider_error(tmp_path):
    catalog = gl.open_catalog(
        {"providers": [{"name": "esm", "hub": "climate", "type": "intake-esm", "url": str(tmp_path / "no.json")}]}
    )
    error = catalog.search().errors["esm"]
    assert isinstance(error, ProviderError) and "datastore file not found" in str(error)
