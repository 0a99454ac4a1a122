"""The openEO API (openeo-driver in its own venv) in front of the platform's OGC API - Processes service, driven by
the `openeo` Python client: hub-token basic auth, the federation's collections, and a graph run on the user's Dask
cluster whose result equals the same xarray computation."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import requests

import gaia_lab as gl
from gaia_lab.openeo_api import SERVER_SCRIPT, write_server_files

openeo = pytest.importorskip("openeo")
pytest.importorskip("openeo_pg_parser_networkx", reason="run scripts/install-openeo-runtime.sh")

pytestmark = [pytest.mark.platform, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
ENTRY = "odatis/ostia-sst-monthly"
BOX = {"west": -10.0, "south": -2.0, "east": 10.0, "north": 2.0}


def _api_python() -> Path:
    for root in (ROOT, Path(os.environ.get("GAIA_LAB_STAC_SERVERS_ROOT", ROOT))):
        python = root / ".venv-openeo-api" / "bin" / "python"
        if python.exists():
            return python
    pytest.fail("the openEO API venv is missing: run scripts/install-openeo-api.sh")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def openeo_url(platform, tmp_path_factory):
    directory = tmp_path_factory.mktemp("openeo-api")
    catalog = gl.open_catalog(platform.layout.catalog_file)
    collections_file, processes_file = write_server_files(catalog, directory)
    port = _free_port()
    settings = {
        "host": "127.0.0.1",
        "port": port,
        "hub_api_url": platform.info.hub_url.rstrip("/") + "/hub/api",
        "processes_url": platform.info.processes_url,
        "collections_file": str(collections_file),
        "processes_file": str(processes_file),
    }
    (directory / "settings.json").write_text(json.dumps(settings))
    log = (directory / "server.log").open("w")
    server = subprocess.Popen(
        [str(_api_python()), str(SERVER_SCRIPT), "--settings", str(directory / "settings.json")],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/openeo/1.2"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(url + "/", timeout=5).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise AssertionError((directory / "server.log").read_text()[-3000:])
            time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


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
