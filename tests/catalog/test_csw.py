"""The CSW provider against pycsw 2.6.2 (CSW 2.0.2 and 3.0) serving real ISO 19139 records recorded from public
catalogues (tests/data/iso) and records of the demo lake whose links are files served over HTTP."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rioxarray
import xarray as xr
from catalogue_servers import LAKE_FILE_RECORDS, start_pycsw
from fault_servers import Fault, FaultServer
from stac_servers import RunningServer, ServerStartError

import gaia_lab as gl
from gaia_lab.catalog.providers import csw as csw_module
from gaia_lab.catalog.providers.csw import CswProvider, text_terms
from gaia_lab.cube import apply_query, open_geotiff, open_zarr
from gaia_lab.datalake.iso import RECORD_SUFFIX
from gaia_lab.errors import AssetError, EntryNotOpenable, GaiaLabError, ProviderError, ProviderTimeout
from gaia_lab.query import CubeRequest, Query

pytestmark = pytest.mark.slow

RECORDED = {
    "955c3e47-411e-4969-b61b-3556d1b9f879": "Cadastre 2018 en Bretagne",
    "ie.marine.data:dataset.1135": "CE0911 Climate Change Survey",
    "17bd184a-7e7d-4f81-95a5-041449a7212b": "Air temperature",
    "3f342f64-9348-11df-ba6a-0014c2c00eab": "ALLSPECIES",
    "NS06agg": "PacIOOS Nearshore Sensor 06: Pohnpei, Micronesia",
    "org.maracoos:avhrr.sst": "AVHRR Sea Surface Temperature for MARACOOS (Mid-Atlantic Regional Association Coastal "
    "Ocean Observing System)",
}
LAKE_COLLECTIONS = [
    "odatis:ostia-sst",
    "odatis:ostia-sst-monthly",
    "odatis:ostia-sst-virtual",
    "aeris:meteosat-bt108",
    "aeris:tmy3-stations",
]


def catalog(url: str, name: str = "csw", **extra: Any) -> gl.Catalog:
    return gl.open_catalog({"providers": [{"name": name, "hub": "ocean", "type": "csw", "url": url, **extra}]})


def ids(results: Any) -> set[str]:
    return {entry.local_id for entry in results}


@pytest.fixture(scope="module")
def csw(pycsw_server: RunningServer) -> gl.Catalog:
    return catalog(pycsw_server.url)


@pytest.fixture(scope="module")
def csw3(pycsw_server: RunningServer) -> gl.Catalog:
    return catalog(pycsw_server.url, name="csw3", version="3.0")


# -- search -----------------------------------------------------------------------------------------------------


def test_every_record_becomes_an_entry(csw: gl.Catalog) -> None:
    res = csw.search(limit=None)
    assert not res.errors
    found = {entry.local_id: entry for entry in res}
    expected = {*RECORDED, *LAKE_COLLECTIONS, *LAKE_FILE_RECORDS}
    assert expected <= set(found)
    for identifier, title in RECORDED.items():
        assert found[identifier].title == title
    provider = csw.providers[0]
    assert isinstance(provider, CswProvider)
    # pycsw speaks both: the FES 1.1 filters of 2.0.2 carry the BBOX.
    assert provider.version == "2.0.2"
    assert provider.offers_iso


def test_iso_fields_keywords_with_their_thesaurus(csw: gl.Catalog) -> None:
    entry = csw["csw/NS06agg"]
    assert entry.keyword_thesauri["sea_water_temperature"] == "CF-1.4"
    assert entry.keyword_thesauri["Oceans > Ocean Temperature > Water Temperature"] == "GCMD Science Keywords"
    # The record escapes '>' twice (&amp;gt;): the keyword reads as the catalogue meant it.
    assert (
        "Ocean > Pacific Ocean > Western Pacific Ocean > Micronesia > Federated States of Micronesia" in entry.keywords
    )
    assert entry.bbox is not None
    assert entry.bbox.west == pytest.approx(158.22402954101562)
    assert entry.datetime is not None
    assert entry.datetime[0] is not None
    assert entry.datetime[0].isoformat() == "2010-05-07T00:00:00+00:00"
    # The OPeNDAP endpoint sits in the record's service identification (THREDDS/ncISO), not its distribution.
    assert entry.formats == ["opendap"]
    assert "http://oos.soest.hawaii.edu/thredds/dodsC/pacioos/nss/ns06agg" in entry.assets.values()
    bretagne = csw["csw/955c3e47-411e-4969-b61b-3556d1b9f879"]
    assert bretagne.keyword_thesauri["Parcelles cadastrales"] == "INSPIRE themes"
    assert "Le plan du cadastre" in bretagne.description
    assert bretagne.bbox is not None
    assert bretagne.bbox.west == pytest.approx(-5.23515625)
    assert bretagne.bbox.north == pytest.approx(49.30468750000001)
    lake = csw["csw/odatis:ostia-sst"]
    assert lake.keyword_thesauri["sea_surface_temperature"] == "CF Standard Name Table"
    assert lake.formats == ["stac", "zarr"]


def test_record_without_extent_is_kept(csw: gl.Catalog) -> None:
    entry = csw["csw/3f342f64-9348-11df-ba6a-0014c2c00eab"]
    assert entry.bbox is None
    assert entry.datetime is None
    assert "3f342f64-9348-11df-ba6a-0014c2c00eab" in ids(csw.search(limit=None))
    assert "3f342f64-9348-11df-ba6a-0014c2c00eab" in ids(csw.search("ALLSPECIES"))


def test_french_query_reaches_english_records(csw: gl.Catalog) -> None:
    res = csw.search("température de la mer")
    assert not res.errors
    # English SST records, found through the thesaurus terms OR-ed in the full-text constraint.
    assert {"org.maracoos:avhrr.sst", "odatis:ostia-sst", "gaia-test:ostia-sst-zarr"} <= ids(res)
    assert "955c3e47-411e-4969-b61b-3556d1b9f879" not in ids(res)
    salinity = ids(csw.search("salinité"))
    assert {"NS06agg", "ie.marine.data:dataset.1135"} <= salinity


def test_text_terms_keep_the_query_and_its_expansion() -> None:
    query = Query.parse(q="température de la mer").with_terms(["sea_surface_temperature", "SST"])
    assert text_terms(query) == ["température de la mer", "sea_surface_temperature", "sea surface temperature", "SST"]
    assert text_terms(Query.parse(q="cadastre bretagne")) == ["cadastre bretagne", "cadastre", "bretagne"]


def test_bbox_constraint(csw: gl.Catalog) -> None:
    brittany = ids(csw.search(bbox=(-6, 47, -1, 49), limit=None))
    assert "955c3e47-411e-4969-b61b-3556d1b9f879" in brittany
    assert "ie.marine.data:dataset.1135" not in brittany  # west of Ireland, north of 49.8
    assert "NS06agg" not in brittany
    pohnpei = ids(csw.search(bbox=(158, 6, 159, 8), limit=None))
    assert "NS06agg" in pohnpei
    assert "955c3e47-411e-4969-b61b-3556d1b9f879" not in pohnpei


def test_bbox_across_the_antimeridian(csw: gl.Catalog) -> None:
    found = ids(csw.search(bbox=(150, 0, -170, 10), limit=None))
    assert "NS06agg" in found
    assert "955c3e47-411e-4969-b61b-3556d1b9f879" not in found


def test_temporal_constraint(csw: gl.Catalog) -> None:
    june_2009 = ids(csw.search(datetime="2009-06-01/2009-06-30", limit=None))
    assert "ie.marine.data:dataset.1135" in june_2009
    assert "NS06agg" not in june_2009  # 2010-2014
    assert "org.maracoos:avhrr.sst" not in june_2009  # 2011-08-26
    assert "odatis:ostia-sst" in june_2009  # 2006-2010
    assert "NS06agg" in ids(csw.search(datetime="2012", limit=None))


def test_paging_follows_next_record(csw: gl.Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    everything = ids(csw.search(limit=None))
    monkeypatch.setattr(csw_module, "PAGE_SIZE", 2)
    provider = csw.providers[0]
    calls: list[int] = []
    original = provider._get_records

    def counted(constraints: Any, iso: bool, start: int, size: int) -> Any:
        calls.append(start)
        return original(constraints, iso, start, size)

    monkeypatch.setattr(provider, "_get_records", counted)
    assert ids(csw.search(limit=None)) == everything
    assert calls == list(range(1, len(everything) + 1, 2))
    calls.clear()
    limited = csw.search(limit=3)
    assert len(limited) == 3
    assert calls == [1, 3]


def test_csw_3(csw3: gl.Catalog, csw: gl.Catalog) -> None:
    provider = csw3.providers[0]
    assert isinstance(provider, CswProvider)
    assert provider.version == "3.0.0"
    assert ids(csw3.search(limit=None)) == ids(csw.search(limit=None))
    assert ids(csw3.search("température de la mer")) == ids(csw.search("température de la mer"))
    assert ids(csw3.search(datetime="2009-06")) == ids(csw.search(datetime="2009-06"))
    brittany = ids(csw3.search(bbox=(-6, 47, -1, 49), limit=None))
    assert "955c3e47-411e-4969-b61b-3556d1b9f879" in brittany
    assert "NS06agg" not in brittany
    entry = csw3["csw3/NS06agg"]
    assert entry.keyword_thesauri["sea_water_temperature"] == "CF-1.4"


def test_dublin_core_when_the_server_has_no_iso(pycsw_dc_server: RunningServer) -> None:
    cat = catalog(pycsw_dc_server.url, name="cite")
    provider = cat.providers[0]
    assert isinstance(provider, CswProvider)
    assert not provider.offers_iso
    res = cat.search(limit=None)
    assert not res.errors
    assert len(res) == 6
    entry = cat["cite/urn:uuid:94bc9c83-97f6-4b40-9eb8-a8e8787a5c63"]
    assert entry.title == "Mauris sed neque"
    assert "Vegetation-Cropland" in entry.keywords
    assert entry.bbox is not None
    assert ids(cat.search("Mauris")) >= {"urn:uuid:94bc9c83-97f6-4b40-9eb8-a8e8787a5c63"}


# -- opening ------------------------------------------------------------------------------------------------------


def _data(ds: xr.Dataset) -> xr.Dataset:
    return ds.drop_attrs(deep=False)


def test_zarr_record_opens_as_the_store(csw: gl.Catalog, lake_dir: Path) -> None:
    entry = csw["csw/gaia-test:ostia-sst-zarr"]
    assert entry.formats == ["zarr"]
    ds = entry.to_xarray()
    assert ds.attrs["gaia:link"].endswith("/lake/odatis/ostia-sst/ostia-sst.zarr")
    assert all(v.chunks is not None for v in ds.data_vars.values())  # lazy, dask-backed
    direct = open_zarr(str(lake_dir / "odatis" / "ostia-sst" / "ostia-sst.zarr"))
    everything = apply_query(direct, CubeRequest.parse(), entry_id="direct")
    xr.testing.assert_equal(_data(ds).load(), _data(everything).load())
    request = CubeRequest.parse(bbox=(-30, -3, 30, 3), datetime="2007")
    subset = entry.to_xarray(bbox=(-30, -3, 30, 3), datetime="2007")
    xr.testing.assert_equal(_data(subset).load(), _data(apply_query(direct, request, entry_id="direct")).load())


def test_cog_record_opens_as_the_file(csw: gl.Catalog, lake_dir: Path) -> None:
    entry = csw["csw/gaia-test:ostia-sst-cog"]
    ds = entry.to_xarray()
    assert list(ds.data_vars) == ["sst"]
    assert ds["sst"].chunks is not None
    path = lake_dir / "odatis" / "ostia-sst-monthly" / "ostia-sst-2006-04" / "sst.tif"
    direct = rioxarray.open_rasterio(path, masked=True)
    assert isinstance(direct, xr.DataArray)
    np.testing.assert_array_equal(ds["sst"].values, direct.isel(band=0).values)
    np.testing.assert_array_equal(ds["x"].values, direct["x"].values)
    assert ds.rio.crs == direct.rio.crs
    small = entry.to_xarray(bbox=(-20, -4, 20, 4))
    assert small.sizes["x"] < ds.sizes["x"]
    request = CubeRequest.parse(bbox=(-20, -4, 20, 4))
    expected = apply_query(open_geotiff(str(path), entry_id="direct"), request, entry_id="direct")
    np.testing.assert_array_equal(small["sst"].values, expected["band_1"].values)


def test_netcdf_record_opens_over_http(csw: gl.Catalog, lake_http: Any) -> None:
    entry = csw["csw/gaia-test:ostia-sst-netcdf"]
    assert entry.formats == ["netcdf"]
    ds = entry.to_xarray()
    assert all(v.chunks is not None for v in ds.data_vars.values())
    with xr.open_dataset(lake_http.root / "netcdf" / "ostia-sst.nc") as direct:
        everything = apply_query(direct, CubeRequest.parse(), entry_id="direct")
        xr.testing.assert_equal(_data(ds).load(), _data(everything).load())
        request = CubeRequest.parse(datetime="2008-01/2008-06")
        subset = entry.to_xarray(datetime="2008-01/2008-06")
        xr.testing.assert_equal(_data(subset).load(), _data(apply_query(direct, request, entry_id="direct")).load())


def test_lake_collection_records_open_through_their_links(csw: gl.Catalog, lake_catalog: gl.Catalog) -> None:
    zarr = csw["csw/odatis:ostia-sst"].to_xarray(datetime="2008")
    via_stac = lake_catalog["odatis/ostia-sst"].to_xarray(datetime="2008")
    xr.testing.assert_equal(_data(zarr).load(), _data(via_stac).load())
    # A COG collection: its record links the STAC collection, which lists the items.
    cogs = csw["csw/odatis:ostia-sst-monthly"].to_xarray(datetime="2007-01/2007-03", bbox=(-10, -2, 10, 2))
    assert cogs.sizes["time"] == 3
    direct = lake_catalog["odatis/ostia-sst-monthly"].to_xarray(datetime="2007-01/2007-03", bbox=(-10, -2, 10, 2))
    np.testing.assert_array_equal(cogs["sst"].values, direct["sst"].values)


def test_metadata_only_record_names_its_links(csw: gl.Catalog) -> None:
    entry = csw["csw/955c3e47-411e-4969-b61b-3556d1b9f879"]
    with pytest.raises(EntryNotOpenable) as caught:
        entry.to_xarray()
    message = str(caught.value)
    assert "WWW:LINK-1.0-http--link http://www.cadastre.gouv.fr" in message
    assert "WWW:LINK-1.0-http--related http://www.impots.gouv.fr" in message
    with pytest.raises(EntryNotOpenable, match="no online resources"):
        csw["csw/3f342f64-9348-11df-ba6a-0014c2c00eab"].to_xarray()


def test_opendap_link_is_tried_and_names_the_endpoint(csw: gl.Catalog) -> None:
    # No network here: the real OPeNDAP endpoint of the record cannot answer, and the error names it.
    entry = csw["csw/org.maracoos:avhrr.sst"]
    assert entry.formats == ["opendap"]
    with pytest.raises(AssetError, match=r"tds\.maracoos\.org/thredds/dodsC/AVHRR/2011/7Agg"):
        entry.to_xarray()


# -- the lake publishes ISO records -------------------------------------------------------------------------------


def test_lake_build_writes_iso_records_pycsw_ingests(lake_dir: Path) -> None:
    written = sorted(p.name for p in lake_dir.glob(f"*/*/*{RECORD_SUFFIX}"))
    assert written == sorted(f"{c.split(':')[1]}{RECORD_SUFFIX}" for c in LAKE_COLLECTIONS)
    assert not list((lake_dir / "theia").glob(f"*/*{RECORD_SUFFIX}"))  # only the hubs whose catalogues speak CSW
    try:
        server = start_pycsw(lake_dir)
    except ServerStartError as error:
        pytest.fail(str(error), pytrace=False)
    try:
        cat = catalog(server.url, name="lake-csw")
        assert ids(cat.search(limit=None)) == set(LAKE_COLLECTIONS)
        entry = cat["lake-csw/aeris:tmy3-stations"]
        assert entry.keyword_thesauri["air_temperature"] == "CF Standard Name Table"
        assert entry.bbox is not None
        ds = entry.to_xarray()
        assert ds.attrs["gaia:link"].startswith("file://")
        direct = open_zarr(str(lake_dir / "aeris" / "tmy3-stations" / "tmy3-stations.zarr"))
        everything = apply_query(direct, CubeRequest.parse(), entry_id="direct")
        xr.testing.assert_equal(_data(ds).load(), _data(everything).load())
    finally:
        server.stop()


# -- bad input ------------------------------------------------------------------------------------------------------

EXCEPTION_REPORT = b"""<?xml version="1.0" encoding="UTF-8"?>
<ows:ExceptionReport xmlns:ows="http://www.opengis.net/ows" version="1.2.0">
  <ows:Exception exceptionCode="NoApplicableCode" locator="service">
    <ows:ExceptionText>Database connection lost</ows:ExceptionText>
  </ows:Exception>
</ows:ExceptionReport>"""


def _capabilities_then(
    pycsw_url: str, answer: tuple[int, str, bytes]
) -> Callable[[str, str, bytes], tuple[int, str, bytes]]:
    """A CSW whose capabilities are pycsw's real ones (version 2.0.2, operations at this server) and whose
    GetRecords answers ``answer``."""
    import urllib.request

    with urllib.request.urlopen(f"{pycsw_url}?service=CSW&request=GetCapabilities&version=2.0.2") as response:
        capabilities = response.read()

    def respond(method: str, path: str, body: bytes) -> tuple[int, str, bytes]:
        if method == "GET" and "GetCapabilities" in path:
            return 200, "application/xml", capabilities
        return answer

    return respond


@pytest.fixture
def lying_csw(fault_server: Callable[[Fault], FaultServer], pycsw_server: RunningServer) -> Callable[..., str]:
    def start(answer: tuple[int, str, bytes]) -> str:
        holder: dict[str, str] = {}

        def respond(method: str, path: str, body: bytes) -> tuple[int, str, bytes]:
            status, content_type, text = inner(method, path, body)
            # pycsw's capabilities name pycsw's URL for GetRecords: this server answers in its place.
            return status, content_type, text.replace(pycsw_server.url.encode(), holder["url"].encode())

        inner = _capabilities_then(pycsw_server.url, answer)
        server = fault_server(Fault("script", responder=respond))
        holder["url"] = f"{server.url}/csw"
        return holder["url"]

    return start


def _federation(pycsw_url: str, bad_url: str, **bad: Any) -> gl.Catalog:
    return gl.open_catalog(
        {
            "providers": [
                {"name": "good", "hub": "ocean", "type": "csw", "url": pycsw_url},
                {"name": "bad", "hub": "ocean", "type": "csw", "url": bad_url, **bad},
            ]
        }
    )


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ((200, "application/xml", EXCEPTION_REPORT), "exception report.*Database connection lost"),
        ((200, "application/xml", b"<csw:GetRecordsResponse xmlns:csw='x'><unclosed>"), "malformed XML"),
        ((200, "text/html", b"<html><body>Maintenance</body></html>"), "not a CSW response"),
        ((502, "text/html", b"<html>Bad gateway</html>"), "not a CSW response"),
    ],
    ids=["exception-report", "malformed-xml", "html-page", "http-502"],
)
def test_bad_csw_answers_land_in_errors(
    lying_csw: Callable[..., str], pycsw_server: RunningServer, answer: tuple[int, str, bytes], expected: str
) -> None:
    cat = _federation(pycsw_server.url, lying_csw(answer))
    res = cat.search("temperature")
    assert set(res.errors) == {"bad"}
    error = res.errors["bad"]
    assert isinstance(error, ProviderError)
    assert error.provider == "bad"
    assert "'bad'" in str(error)
    assert len(res) > 0
    assert {e.provider for e in res} == {"good"}
    assert re.search(expected, str(error)), str(error)


def test_exception_report_at_capabilities(
    fault_server: Callable[[Fault], FaultServer], pycsw_server: RunningServer
) -> None:
    server = fault_server(Fault("script", responder=lambda m, p, b: (200, "application/xml", EXCEPTION_REPORT)))
    res = _federation(pycsw_server.url, server.url).search("temperature")
    assert "Database connection lost" in str(res.errors["bad"])
    assert {e.provider for e in res} == {"good"}


def test_timeout(slow_api: FaultServer, pycsw_server: RunningServer) -> None:
    cat = _federation(pycsw_server.url, slow_api.url, timeout=1)
    started = time.monotonic()
    res = cat.search("temperature")
    assert time.monotonic() - started < 8
    assert isinstance(res.errors["bad"], ProviderTimeout)
    assert {e.provider for e in res} == {"good"}


def test_version_must_be_known() -> None:
    with pytest.raises(GaiaLabError, match="version"):
        catalog("http://127.0.0.1:1/csw", version="1.0")
