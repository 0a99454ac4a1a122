"""OGC API - Processes on the real platform (pygeoapi behind the hub, jobs on each user's Dask Gateway cluster),
driven through OWSLib and gl.process; outputs compared with the same process run directly (and, for aggregate, the
same xarray computation written here). One platform for the whole session (tests/conftest.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import requests
import xarray as xr
from dask_gateway import Gateway, JupyterHubAuth
from owslib.ogcapi.processes import Processes

import gaia_lab as gl
from gaia_lab.ogc_processes.client import ProcessServiceError
from gaia_lab.ogc_processes.server import ServiceSettings, results_dir_for
from gaia_lab.ogc_processes.user_catalog import entry_id
from gaia_lab.processing import PROCESSES, ProcessContext, run

pytestmark = [pytest.mark.platform, pytest.mark.slow]

# Users of these tests only: the platform tests count alice's and bob's clusters and catalogues.
OWNER, OTHER = "proc-ann", "proc-ben"


@pytest.fixture(scope="module")
def service(platform) -> str:
    assert platform.info.processes_url, "the platform did not start the processes service"
    return platform.info.processes_url.rstrip("/")


@pytest.fixture(scope="module")
def owner(make_user):
    return make_user(OWNER)


@pytest.fixture(scope="module")
def other(make_user):
    return make_user(OTHER)


@pytest.fixture(scope="module")
def session_catalog(platform) -> gl.Catalog:
    return gl.open_catalog(platform.layout.catalog_file)


def _api(owslib_user) -> Processes:
    return Processes(owslib_user[0], headers={"Authorization": f"token {owslib_user[1]}"})


def _open(path: str, media_type: str) -> Any:
    if "zarr" in media_type:
        return xr.open_zarr(path, consolidated=False).load()
    if "csv" in media_type:
        return pd.read_csv(path)
    if "parquet" in media_type:
        import geopandas as gpd

        return pd.DataFrame(gpd.read_parquet(path).drop(columns="geometry", errors="ignore"))
    if "tiff" in media_type:
        import rioxarray

        return rioxarray.open_rasterio(path).load()
    return xr.open_dataset(path).load()


def _same(served: Any, direct: Any) -> None:
    if isinstance(direct, pd.DataFrame):
        assert list(served.columns) == list(direct.columns)
        numeric = direct.select_dtypes("number").columns
        assert len(served) == len(direct) and len(direct) > 0
        np.testing.assert_allclose(served[numeric].to_numpy(float), direct[numeric].to_numpy(float), rtol=1e-6)
        return
    if isinstance(direct, xr.Dataset):
        assert set(served.data_vars) == set(direct.data_vars) and direct.data_vars
        for name in direct.data_vars:
            assert served[name].shape == direct[name].shape
            np.testing.assert_allclose(served[name].values, direct[name].values, rtol=1e-6, equal_nan=True)
        return
    np.testing.assert_allclose(np.asarray(served), np.asarray(direct), rtol=1e-6, equal_nan=True)


def _direct(process_id: str, inputs: dict[str, Any], catalog: gl.Catalog, out: Path) -> dict[str, Any]:
    """The same process run here, with Dask's local scheduler: output key -> opened data."""
    result = run(process_id, inputs, ProcessContext(output_dir=out, catalog=catalog))
    return {f.key: _open(str(f.path), f.media_type) for f in result.files}


def _local_outputs(item: dict[str, Any]) -> dict[str, Any]:
    """The outputs of a result item, read in the user's space (the tests run as root, on the same machine)."""
    opened = {}
    for key, asset in item["assets"].items():
        local = asset.get("alternate", {}).get("local", {}).get("href")
        if local:
            opened[key] = _open(local, asset["type"])
    return opened


# -- the service: listing, descriptions, authentication -------------------------------------------------------------
def test_owslib_lists_and_describes_every_registered_process(service, owner):
    api = _api((service, owner.token))
    listed = {p["id"] for p in api.processes()}
    assert listed == set(PROCESSES)
    for process_id in PROCESSES:
        description = api.process(process_id)
        assert description["id"] == process_id
        assert set(description["inputs"]) == set(PROCESSES[process_id].inputs)
        assert "async-execute" in description["jobControlOptions"]
    assert {p["id"] for p in gl.processes(url=service, token=owner.token)} == set(PROCESSES)


def test_no_token_or_a_bad_token_is_refused(service, platform):
    assert requests.get(f"{service}/processes?f=json", timeout=30).status_code == 401
    bad = requests.get(f"{service}/jobs?f=json", headers={"Authorization": "token nope"}, timeout=30)
    assert bad.status_code == 403
    # A browser is sent to the hub's OAuth login, and comes back to the service.
    browser = requests.get(f"{service}/processes", headers={"Accept": "text/html"}, allow_redirects=False, timeout=30)
    assert browser.status_code == 302 and "/hub/api/oauth2/authorize" in browser.headers["Location"]


def test_a_browser_logged_in_to_the_hub_gets_in_with_a_cookie(service, owner):
    page = owner.session.get(f"{service}/processes?f=json", headers={"Accept": "text/html"}, timeout=60)
    assert page.status_code == 200, page.text[:300]
    assert page.url.startswith(service)
    assert "gaia-lab-processes" in owner.session.cookies.get_dict()


# -- every process end to end, through OWSLib (sync) and gl.process (async) ----------------------------------------
@pytest.mark.parametrize("process_id", sorted(PROCESSES))
def test_every_process_through_owslib_and_gl_process_matches_the_direct_run(
    process_id, service, owner, session_catalog, results_dir, tmp_path
):
    inputs = dict(PROCESSES[process_id].example["inputs"])
    direct = _direct(process_id, inputs, session_catalog, tmp_path)
    first = next(iter(direct.values()))

    # OWSLib, synchronous: the results document's item, its files read in the user's space.
    started = time.monotonic()
    document = _api((service, owner.token)).execute(process_id, inputs, response="document")
    print(f"{process_id}: sync run through the service {time.monotonic() - started:.1f} s")
    item = document["result"]
    served = _local_outputs(item)
    assert set(served) == set(direct)
    for key in direct:
        _same(served[key], direct[key])
    # Each asset downloads from the service with the owner's token.
    for asset in item["assets"].values():
        href = f"{asset['href']}/zarr.json" if "zarr" in asset["type"] else asset["href"]
        download = requests.get(href, headers=owner.headers, timeout=60)
        assert download.status_code == 200 and download.content

    # gl.process, asynchronous: the job, its progress, its result opened as a cube (or a table).
    job = gl.process(process_id, inputs, url=service, token=owner.token)
    info = job.wait(timeout=300, progress_bar=False)
    assert info["status"] == "successful" and info["progress"] == 100
    result = job.result()
    if isinstance(first, xr.Dataset):
        _same(result.load(), first)
    elif isinstance(first, pd.DataFrame):
        _same(pd.DataFrame(result.drop(columns="geometry", errors="ignore")), first)
    else:  # a COG (one band) read by rioxarray here, as a cube through its item there
        opened = next(iter(result.data_vars.values())) if isinstance(result, xr.Dataset) else result
        _same(np.squeeze(opened.values), np.squeeze(first.values))
    # The result is in the owner's catalogue, and opens as an entry like any other.
    catalog = _user_catalog(results_dir(owner.name))
    assert "user-results/results" in {e.id for e in catalog.search(limit=1000)}
    if isinstance(first, xr.Dataset):
        _same(catalog[entry_id(job.id)].to_xarray().load(), first)


@pytest.fixture(scope="module")
def results_dir(platform) -> Callable[[str], Path]:
    """Where the service puts a user's results (their catalogue's root), as the service computes it."""
    settings = ServiceSettings.load(platform.layout.data_dir / "processes" / "settings.json")
    return results_dir_for(settings)  # type: ignore[no-any-return]


def _user_catalog(root: Path) -> gl.Catalog:
    from gaia_lab.catalog.user_results import provider_config

    config = provider_config(root)
    assert config is not None, f"no results catalogue in {root}"
    return gl.open_catalog({"providers": [config]})


def test_aggregate_equals_the_xarray_computation_written_here(service, owner, session_catalog):
    inputs = {
        "entry": "climeri/sres-a1b-tas",
        "datetime": "2000-01-01/2049-12-31",
        "operation": "resample",
        "period": "year",
        "statistic": "mean",
    }
    result = gl.process("aggregate", inputs, url=service, token=owner.token).result(timeout=300).load()
    cube = session_catalog["climeri/sres-a1b-tas"].to_xarray(datetime="2000-01-01/2049-12-31")
    expected = cube.resample(time="YS").mean().load()
    name = next(iter(expected.data_vars))
    np.testing.assert_allclose(result[name].values, expected[name].values, rtol=1e-5, equal_nan=True)


@pytest.mark.parametrize(("process_id", "fmt"), [("time-series", "netcdf"), ("zonal-statistics", "csv")])
def test_netcdf_and_csv_results_reopen_from_the_user_catalogue(
    process_id, fmt, service, owner, session_catalog, results_dir, tmp_path
):
    inputs = {**PROCESSES[process_id].example["inputs"], "format": fmt}
    (direct,) = _direct(process_id, inputs, session_catalog, tmp_path).values()
    job = gl.process(process_id, inputs, url=service, token=owner.token)
    result = job.result(timeout=300)
    entry = _user_catalog(results_dir(owner.name))[entry_id(job.id)]
    if fmt == "netcdf":
        assert isinstance(result, xr.Dataset) and result.attrs["featureType"] == "timeSeries"
        _same(result.load(), direct)
        _same(entry.to_xarray().load(), direct)
    else:
        assert type(result) is pd.DataFrame  # zones without coordinates: a plain table
        _same(result, direct)
        _same(entry.to_geopandas(), direct)


# -- bad input -------------------------------------------------------------------------------------------------------
def test_invalid_inputs_get_400_naming_the_field(service, owner):
    inputs = dict(PROCESSES["subset"].example["inputs"], bbox=[-60, -5, 0])
    response = requests.post(
        f"{service}/processes/subset/execution", json={"inputs": inputs}, headers=owner.headers, timeout=60
    )
    assert response.status_code == 400
    assert "/bbox" in response.json()["description"]
    with pytest.raises(ProcessServiceError, match="/bbox") as raised:
        gl.process("subset", inputs, url=service, token=owner.token)
    assert raised.value.status == 400


def test_an_unknown_entry_gets_404_with_its_id(service, owner):
    inputs = dict(PROCESSES["aggregate"].example["inputs"], entry="climeri/no-such-run")
    response = requests.post(
        f"{service}/processes/aggregate/execution", json={"inputs": inputs}, headers=owner.headers, timeout=60
    )
    assert response.status_code == 404
    assert "climeri/no-such-run" in response.json()["description"]


def test_an_unknown_process_gets_404(service, owner):
    response = requests.post(
        f"{service}/processes/nope/execution", json={"inputs": {}}, headers=owner.headers, timeout=60
    )
    assert response.status_code == 404


# -- async jobs: progress, dismiss, isolation, a dying cluster ------------------------------------------------------
def _slow_inputs() -> dict[str, Any]:
    """The largest computation of the examples: the whole SST entry subset."""
    return {"entry": "odatis/ostia-sst", "format": "zarr"}


def _poll(job, until, timeout=240.0):
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        info = job.status()
        seen.append((info["status"], info["progress"]))
        if until(info):
            return info, seen
        time.sleep(0.2)
    raise AssertionError(f"job {job.id} never reached the state; seen {seen[-10:]}")


def test_async_job_reports_progress_and_lists_its_results(service, owner):
    job = gl.process("subset", _slow_inputs(), url=service, token=owner.token)
    first = job.status()
    assert first["status"] in ("accepted", "running")
    info, seen = _poll(job, lambda i: i["status"] in ("successful", "failed"))
    assert info["status"] == "successful", info
    progress = [p for status, p in seen if status == "running"]
    assert any(0 < p < 100 for p in progress) or len(set(progress)) > 1, seen
    listed = requests.get(f"{service}/jobs?f=json", headers=owner.headers, timeout=30).json()["jobs"]
    assert job.id in {j["jobID"] for j in listed}
    results = requests.get(f"{service}/jobs/{job.id}/results?f=json", headers=owner.headers, timeout=30)
    assert results.status_code == 200 and results.json()["result"]["assets"]


def test_dismiss_cancels_the_dask_work_and_removes_the_outputs(service, owner, results_dir):
    job = gl.process("subset", _slow_inputs(), url=service, token=owner.token)
    _poll(job, lambda i: i["status"] == "running" and i["progress"] > 0)
    dismissed = job.dismiss()
    assert dismissed["status"] == "dismissed"
    info = job.status()
    assert info["status"] == "dismissed"
    # The task stops (its cluster too, nothing else of the owner's running) and what it wrote goes.
    output = results_dir(owner.name) / job.id
    # A chunk already running on the worker finishes before the task sees the dismissal (slow on a loaded machine).
    deadline = time.monotonic() + 180
    while output.exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not output.exists()
    assert job.status()["status"] == "dismissed"  # the cancelled task did not bring it back
    with pytest.raises(ProcessServiceError):
        job.result(timeout=5)


def test_another_user_can_neither_see_nor_dismiss_nor_read_a_job(service, owner, other):
    job = gl.process("time-series", PROCESSES["time-series"].example["inputs"], url=service, token=owner.token)
    job.wait(timeout=300, progress_bar=False)
    item = job.item()
    for method, path in (
        ("GET", f"jobs/{job.id}?f=json"),
        ("GET", f"jobs/{job.id}/results?f=json"),
        ("DELETE", f"jobs/{job.id}"),
    ):
        response = requests.request(method, f"{service}/{path}", headers=other.headers, timeout=30)
        assert response.status_code == 404, (method, path, response.status_code)
    for asset in item["assets"].values():
        assert requests.get(asset["href"], headers=other.headers, timeout=30).status_code == 404
        assert requests.get(asset["href"], headers=owner.headers, timeout=30).status_code == 200
    listed = requests.get(f"{service}/jobs?f=json", headers=other.headers, timeout=30).json()["jobs"]
    assert job.id not in {j["jobID"] for j in listed}
    assert job.status()["status"] == "successful"  # still there for its owner


def test_a_job_whose_cluster_dies_fails_with_the_reason_and_leaves_no_cluster(service, platform, owner):
    job = gl.process("subset", _slow_inputs(), url=service, token=owner.token)
    _poll(job, lambda i: i["status"] == "running")
    gateway = Gateway(
        address=platform.info.gateway_url,
        proxy_address=platform.info.gateway_proxy_address,
        auth=JupyterHubAuth(api_token=owner.token),
    )
    try:
        clusters = gateway.list_clusters()
        assert clusters, "the job's cluster is not the owner's"
        for report in clusters:
            gateway.stop_cluster(report.name)
        info, _ = _poll(job, lambda i: i["status"] in ("failed", "successful"))
        assert info["status"] == "failed"
        assert "cluster" in info["message"]
        deadline = time.monotonic() + 60
        while gateway.list_clusters() and time.monotonic() < deadline:
            time.sleep(1)
        assert gateway.list_clusters() == []
    finally:
        gateway.close()
