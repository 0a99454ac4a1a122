"""The openEO API the platform starts (openeo-driver in its own venv, in front of its OGC API - Processes), driven by
the `openeo` Python client: hub-token basic auth, the federation's collections, and a graph run on the user's Dask
cluster whose result equals the same xarray computation."""

from __future__ import annotations

import numpy as np
import pytest
import requests

import gaia_lab as gl

openeo = pytest.importorskip("openeo")
pytest.importorskip("openeo_pg_parser_networkx", reason="run scripts/install-openeo-runtime.sh")

pytestmark = [pytest.mark.platform, pytest.mark.slow]

ENTRY = "odatis/ostia-sst-monthly"
BOX = {"west": -10.0, "south": -2.0, "east": 10.0, "north": 2.0}


@pytest.fixture(scope="module")
def openeo_url(platform):
    """The openEO API the platform started (port trait openeo_port), in front of its OGC API - Processes."""
    assert platform.info.openeo_url, "the platform did not start the openEO API (see its output for why)"
    return platform.info.openeo_url


@pytest.fixture(scope="module")
def user(make_user):
    return make_user("oeo-ann")


def test_capabilities_collections_and_processes(openeo_url):
    connection = openeo.connect(openeo_url)
    assert connection.capabilities().api_version() == "1.2.0"
    ids = {c["id"] for c in connection.list_collections()}
    assert ENTRY in ids
    processes = {p["id"] for p in connection.list_processes()}
    assert {"load_collection", "filter_bbox", "reduce_dimension", "mean", "save_result"} <= processes


def test_basic_auth_takes_a_hub_token_and_refuses_anything_else(openeo_url, user):
    connection = openeo.connect(openeo_url).authenticate_basic(username=user.name, password=user.token)
    assert connection.describe_account()["user_id"] == user.name
    with pytest.raises(openeo.rest.OpenEoApiError) as refused:
        openeo.connect(openeo_url).authenticate_basic(username=user.name, password="not-a-token")
    assert refused.value.http_status_code in (401, 403)
    # Another user's name with one's own token is refused too.
    with pytest.raises(openeo.rest.OpenEoApiError):
        openeo.connect(openeo_url).authenticate_basic(username="someone-else", password=user.token)
    # So is a made-up access token (openeo-driver's own would accept base64 of any name).
    import base64

    forged = base64.urlsafe_b64encode(user.name.encode()).decode()
    answer = requests.get(f"{openeo_url}/me", headers={"Authorization": f"Bearer basic//{forged}"}, timeout=30)
    assert answer.status_code in (401, 403)


def test_graph_runs_on_the_users_cluster_and_matches_xarray(openeo_url, user, platform, tmp_path):
    connection = openeo.connect(openeo_url).authenticate_basic(username=user.name, password=user.token)
    cube = connection.load_collection(ENTRY, temporal_extent=["2007-01-01", "2007-04-01"], fetch_metadata=False)
    cube = cube.filter_bbox(**BOX).reduce_dimension(dimension="t", reducer="mean")
    target = tmp_path / "mean.tif"
    cube.download(target, format="GTiff")
    import rioxarray

    got = rioxarray.open_rasterio(target).squeeze("band", drop=True)
    catalog = gl.open_catalog(platform.layout.catalog_file)
    sst = catalog[ENTRY].to_xarray()["sst"].sel(time=slice("2007-01-01", "2007-03-31"))
    expected = sst.sel(latitude=slice(2, -2), longitude=slice(-10, 10)).mean("time").compute()
    assert got.shape == expected.shape == (7, 24)
    np.testing.assert_allclose(got.values, expected.values, rtol=1e-6)


def test_unknown_collection_is_an_openeo_error(openeo_url, user):
    connection = openeo.connect(openeo_url).authenticate_basic(username=user.name, password=user.token)
    cube = connection.load_collection("odatis/nope", fetch_metadata=False)
    with pytest.raises(openeo.rest.OpenEoApiError, match="odatis/nope") as caught:
        cube.download(format="netCDF")
    assert caught.value.http_status_code == 404
