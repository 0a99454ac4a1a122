"""Vector data cubes (xvec) and GeoDataFrames of the biodiversity hub, compared with the R packages' own ``.rda``
files read here independently with rdata; bbox selection, reprojection, laziness and bad GeoParquet files."""

from __future__ import annotations

import json
from pathlib import Path

import dask.array as da
import geopandas as gpd
import numpy as np
import pyarrow.parquet as pq
import pytest
import rdata
import shapely
import xarray as xr
from pyproj import CRS, Transformer

import gaia_lab as gl
from gaia_lab.cube.vector import open_geoparquet
from gaia_lab.errors import AssetError, EmptyResult, EntryNotOpenable, InvalidQuery
from gaia_lab.query import CubeRequest

R_LIBRARY = Path("usr/lib/R/site-library")


def _rda(package: str, name: str) -> dict:
    for root in (Path(__file__).resolve().parents[2] / ".cache" / "debian", Path("/")):
        path = root / R_LIBRARY / package / "data" / f"{name}.rda"
        if path.is_file():
            return rdata.read_rda(path, default_encoding="utf8")
    pytest.skip(f"Debian r-cran-{package} not unpacked: run scripts/fetch-debian-sources.sh .cache/debian")


@pytest.fixture(scope="module")
def doubs() -> dict:
    return _rda("ade4", "doubs")["doubs"]


@pytest.fixture(scope="module")
def bci():
    return _rda("vegan", "BCI")["BCI"], _rda("vegan", "BCI.env")["BCI.env"]


@pytest.fixture(scope="module")
def mite():
    return _rda("vegan", "mite")["mite"], _rda("vegan", "mite.env")["mite.env"], _rda("vegan", "mite.xy")["mite.xy"]


def _xy(ds: xr.Dataset) -> np.ndarray:
    return shapely.get_coordinates(ds["geometry"].values)


def test_doubs_cube_equals_the_ade4_tables(lake_catalog, doubs):
    ds = lake_catalog["pndb/doubs-fish"].to_xarray()
    assert dict(ds.sizes) == {"geometry": 30, "species": 27}
    assert ds["abundance"].dims == ("geometry", "species")
    assert list(ds["site"].values) == list(doubs["fish"].index)
    assert list(ds["species"].values) == list(doubs["fish"].columns)
    np.testing.assert_array_equal(ds["abundance"].values, doubs["fish"].to_numpy())
    for name in doubs["env"].columns:
        np.testing.assert_array_equal(ds[name].values, doubs["env"][name].to_numpy(), err_msg=name)
    np.testing.assert_array_equal(_xy(ds), doubs["xy"][["x", "y"]].to_numpy())
    assert list(ds["french_name"].values) == list(doubs["species"]["French"])
    assert list(ds["scientific_name"].values) == list(doubs["species"]["Scientific"])
    # species richness per site, the ecologists' first question, from the cube and from the source
    np.testing.assert_array_equal((ds["abundance"] > 0).sum("species").values, (doubs["fish"] > 0).sum(axis=1))


def test_doubs_keeps_a_local_crs_without_geographic_reference(lake_catalog):
    ds = lake_catalog["pndb/doubs-fish"].to_xarray()
    crs = CRS.from_user_input(ds.xindexes["geometry"].crs)
    assert crs.type_name == "Engineering CRS"
    assert not crs.is_geographic and not crs.is_projected
    assert "not km" in ds.attrs["gaia:crs_note"]


def test_mite_cube_equals_the_vegan_tables(lake_catalog, mite):
    counts, env, xy = mite
    ds = lake_catalog["pndb/oribatid-mites"].to_xarray()
    assert dict(ds.sizes) == {"geometry": 70, "species": 35}
    np.testing.assert_array_equal(ds["abundance"].values, counts.to_numpy(dtype="int64"))
    np.testing.assert_array_equal(ds["SubsDens"].values, env["SubsDens"].to_numpy())
    np.testing.assert_array_equal(ds["WatrCont"].values, env["WatrCont"].to_numpy())
    for factor in ("Substrate", "Shrub", "Topo"):
        assert list(ds[factor].values) == [str(v) for v in env[factor]], factor
    np.testing.assert_array_equal(_xy(ds), xy[["x", "y"]].to_numpy())
    assert CRS.from_user_input(ds.xindexes["geometry"].crs).axis_info[0].unit_name == "metre"


def test_bci_cube_equals_the_vegan_tables_in_utm_17n(lake_catalog, bci):
    trees, env = bci
    ds = lake_catalog["pndb/bci-trees"].to_xarray()
    assert dict(ds.sizes) == {"geometry": 50, "species": 225}
    assert list(ds["species"].values) == list(trees.columns)
    np.testing.assert_array_equal(ds["abundance"].values, trees.to_numpy(dtype="int64"))
    np.testing.assert_array_equal(ds["EnvHet"].values, env["EnvHet"].to_numpy())
    np.testing.assert_array_equal(ds["Elevation"].values, env["Elevation"].to_numpy(dtype="int64"))
    assert list(ds["Habitat"].values) == [str(v) for v in env["Habitat"]]
    np.testing.assert_array_equal(_xy(ds), env[["UTM.EW", "UTM.NS"]].to_numpy())
    assert CRS.from_user_input(ds.xindexes["geometry"].crs).to_epsg() == 32617


def test_a_bbox_keeps_the_sites_inside_it(lake_catalog, bci):
    _, env = bci
    lon, lat = Transformer.from_crs(32617, 4326, always_xy=True).transform(
        env["UTM.EW"].to_numpy(), env["UTM.NS"].to_numpy()
    )
    # the two westernmost columns of plots and the southern half of the rows
    west, east = lon.min() - 1e-4, np.sort(np.unique(lon.round(6)))[1] + 1e-4
    south, north = lat.min() - 1e-4, np.median(lat)
    expected = [
        str(s) for s, x, y in zip(env.index, lon, lat, strict=True) if west <= x <= east and south <= y <= north
    ]
    assert 0 < len(expected) < 50
    ds = lake_catalog["pndb/bci-trees"].to_xarray(bbox=(west, south, east, north))
    assert list(ds["site"].values) == expected
    trees = bci[0]
    np.testing.assert_array_equal(ds["abundance"].values, trees.loc[expected].to_numpy(dtype="int64"))
    frame = lake_catalog["pndb/bci-trees"].to_geopandas(bbox=(west, south, east, north))
    assert list(frame["site"]) == expected


def test_a_bbox_outside_the_sites_is_an_empty_result(lake_catalog):
    with pytest.raises(EmptyResult) as info:
        lake_catalog["pndb/bci-trees"].to_xarray(bbox=(0, 40, 5, 45))
    assert info.value.entry_id == "pndb/bci-trees"


def test_a_bbox_cannot_select_local_coordinates(lake_catalog):
    with pytest.raises(InvalidQuery) as info:
        lake_catalog["pndb/doubs-fish"].to_xarray(bbox=(5, 46, 8, 48))
    assert info.value.parameter == "bbox" and "local coordinates" in str(info.value)
    with pytest.raises(InvalidQuery):
        lake_catalog["pndb/oribatid-mites"].to_xarray(crs="EPSG:4326")


def test_reprojected_sites_match_pyproj(lake_catalog, bci):
    _, env = bci
    ds = lake_catalog["pndb/bci-trees"].to_xarray(crs="EPSG:4326")
    lon, lat = Transformer.from_crs(32617, 4326, always_xy=True).transform(
        env["UTM.EW"].to_numpy(), env["UTM.NS"].to_numpy()
    )
    np.testing.assert_allclose(_xy(ds), np.column_stack([lon, lat]), atol=1e-9)
    assert CRS.from_user_input(ds.xindexes["geometry"].crs).to_epsg() == 4326


def test_xvec_selects_sites_by_geometry(lake_catalog, bci):
    ds = lake_catalog["pndb/bci-trees"].to_xarray()
    box = shapely.box(625700, 1011500, 625900, 1011700)  # UTM metres: plots 1, 2, 6, 7
    assert sorted(ds.xvec.query("geometry", box)["site"].values, key=int) == ["1", "2", "6", "7"]
    assert int(ds.sel(site="7")["abundance"].sum()) == bci[0].loc["7"].sum()


def test_data_columns_are_read_at_compute_time(lake_copy):
    catalog = gl.open_catalog(lake_copy / "federation.yaml")
    ds = catalog["pndb/doubs-fish"].to_xarray()
    assert all(isinstance(v.data, da.Array) for v in ds.data_vars.values())
    path = lake_copy / "pndb" / "doubs-fish" / "doubs-fish.parquet"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])  # truncated after opening
    with pytest.raises(AssetError) as info:
        ds["abundance"].compute()
    assert info.value.href.endswith("doubs-fish.parquet")


def test_to_geopandas_equals_the_source(lake_catalog, doubs):
    frame = lake_catalog["pndb/doubs-fish"].to_geopandas()
    assert isinstance(frame, gpd.GeoDataFrame)
    assert frame.crs.type_name == "Engineering CRS"
    np.testing.assert_array_equal(frame[list(doubs["fish"].columns)].to_numpy(), doubs["fish"].to_numpy())
    np.testing.assert_array_equal(frame["alt"].to_numpy(), doubs["env"]["alt"].to_numpy())
    np.testing.assert_array_equal(shapely.get_coordinates(frame.geometry.values), doubs["xy"].to_numpy())
    some = lake_catalog["pndb/doubs-fish"].to_geopandas(variables=["alt", "Satr"])
    assert list(some.columns) == ["site", "alt", "Satr", "geometry"]
    bci = lake_catalog["pndb/bci-trees"].to_geopandas(crs="EPSG:4326")
    assert bci.crs.to_epsg() == 4326 and len(bci) == 50


def test_open_datacube_by_id_and_by_href(lake_catalog, lake_dir):
    by_id = gl.open_datacube("pndb/oribatid-mites", catalog=lake_catalog, variables=["abundance", "WatrCont"])
    assert set(by_id.data_vars) == {"abundance", "WatrCont"}
    href = lake_dir / "pndb" / "oribatid-mites" / "oribatid-mites.parquet"
    by_href = gl.open_datacube(str(href), chunks={"geometry": 20})
    assert by_href["abundance"].chunks == ((20, 20, 20, 10), (35,))
    xr.testing.assert_equal(by_id["abundance"].compute(), by_href["abundance"].compute())


def test_bad_requests_are_named(lake_catalog):
    with pytest.raises(EntryNotOpenable) as info:
        lake_catalog["odatis/ostia-sst"].to_geopandas()  # a Zarr cube, not a table
    assert "GeoParquet" in str(info.value)
    entry = lake_catalog["pndb/doubs-fish"]
    with pytest.raises(InvalidQuery) as info:
        entry.to_xarray(variables=["salinity"])
    assert info.value.parameter == "variables" and "alt" in str(info.value)
    with pytest.raises(InvalidQuery) as info:
        entry.to_xarray(resolution=10)
    assert info.value.parameter == "resolution"


def test_corrupt_geoparquet_names_the_href(lake_copy):
    path = lake_copy / "pndb" / "bci-trees" / "bci-trees.parquet"
    path.write_bytes(path.read_bytes()[:1000])
    catalog = gl.open_catalog(lake_copy / "federation.yaml")
    with pytest.raises(AssetError) as info:
        catalog["pndb/bci-trees"].to_xarray()
    assert info.value.href.endswith("bci-trees.parquet") and info.value.entry_id == "pndb/bci-trees"
    with pytest.raises(AssetError):
        catalog["pndb/bci-trees"].to_geopandas()
    with pytest.raises(AssetError) as info:
        open_geoparquet(str(lake_copy / "pndb" / "nowhere.parquet"))
    assert "nowhere.parquet" in str(info.value)


def test_parquet_without_geometry_is_refused(lake_dir, tmp_path):
    source = lake_dir / "pndb" / "doubs-fish" / "doubs-fish.parquet"
    table = pq.read_table(source)
    plain = tmp_path / "plain.parquet"
    pq.write_table(table.replace_schema_metadata({}), plain)
    with pytest.raises(AssetError) as info:
        open_geoparquet(str(plain))
    assert "geometry" in str(info.value) and info.value.href == str(plain)
    # 'geo' metadata naming a column the file does not have
    geo = json.loads(table.schema.metadata[b"geo"])
    dropped = tmp_path / "dropped.parquet"
    pq.write_table(table.drop_columns(["geometry"]).replace_schema_metadata({b"geo": json.dumps(geo)}), dropped)
    with pytest.raises(AssetError) as info:
        open_geoparquet(str(dropped), CubeRequest.parse())
    assert "'geometry'" in str(info.value) and "missing" in str(info.value)


def test_any_geoparquet_opens_as_a_vector_cube(tmp_path):
    """A GeoParquet written by geopandas alone (no cube layout): one variable per column along geometry."""
    frame = gpd.GeoDataFrame(
        {"name": ["a", "b", "c"], "value": [1.5, 2.5, 3.5]},
        geometry=gpd.points_from_xy([2.35, -1.55, 5.37], [48.85, 47.22, 43.30]),
        crs="EPSG:4326",
    )
    path = tmp_path / "points.parquet"
    frame.to_parquet(path, write_covering_bbox=True, schema_version="1.1.0")
    ds = open_geoparquet(str(path), CubeRequest.parse(bbox=(0, 45, 3, 50)))
    assert list(ds["name"].values) == ["a"] and ds["value"].values.tolist() == [1.5]
    assert CRS.from_user_input(ds.xindexes["geometry"].crs).to_epsg() == 4326
    without_covering = tmp_path / "plain-points.parquet"
    frame.to_parquet(without_covering)
    assert open_geoparquet(str(without_covering), CubeRequest.parse(bbox=(0, 45, 3, 50)))["name"].values.tolist() == [
        "a"
    ]
