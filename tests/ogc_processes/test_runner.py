"""The job runner on its own (the engine any API face calls), on the platform's real gateway and hub: limits of
output size, duration, cluster size and concurrent jobs end a job with a clear error, and leave no cluster."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from dask_gateway import Gateway, JupyterHubAuth

from gaia_lab.ogc_processes.clusters import ClusterPool, ClusterSettings
from gaia_lab.ogc_processes.jobs import FAILED, JobStore
from gaia_lab.ogc_processes.runner import JobLimitError, JobRunner, RunnerSettings
from gaia_lab.ogc_processes.server import ServiceSettings, results_dir_for

pytestmark = [
    pytest.mark.platform,
    pytest.mark.slow,
    # This process's Python (the service's, 3.11.7 here) and the sessions' (the workers', 3.11.2) differ in patch
    # version: distributed warns, and the suite makes warnings errors. The service process runs with that warning.
    pytest.mark.filterwarnings("ignore:Mismatched versions found"),
]

USER = "proc-cy"
WHOLE_SST = {"entry": "odatis/ostia-sst", "format": "zarr"}


@pytest.fixture(scope="module")
def user(make_user):
    return make_user(USER)


@pytest.fixture(scope="module")
def service_settings(platform) -> ServiceSettings:
    return ServiceSettings.load(platform.layout.data_dir / "processes" / "settings.json")


def _runner(platform, settings: ServiceSettings, tmp_path: Path, **limits: Any) -> JobRunner:
    token = json.loads((platform.layout.data_dir / "processes" / "secrets.json").read_text())["hub_token"]
    cluster = {k: limits.pop(k) for k in ("worker_memory_gib", "workers") if k in limits}
    pool = ClusterPool(
        ClusterSettings(
            gateway_address=settings.gateway_address,
            gateway_proxy_address=settings.gateway_proxy_address,
            hub_api_url=settings.hub_api_url,
            service_token=token,
            gateway_scope=settings.gateway_scope,
            environment=dict(settings.worker_environment),
            idle_timeout=30,
            workers=cluster.get("workers", 1),
            worker_memory_gib=cluster.get("worker_memory_gib", 1.0),
        )
    )
    return JobRunner(
        JobStore(tmp_path / "jobs"),
        pool,
        RunnerSettings(results_dir=results_dir_for(settings), catalog_source=settings.catalog_source, **limits),
    )


def _clusters(platform, user) -> list[Any]:
    gateway = Gateway(
        address=platform.info.gateway_url,
        proxy_address=platform.info.gateway_proxy_address,
        auth=JupyterHubAuth(api_token=user.token),
    )
    try:
        return list(gateway.list_clusters())
    finally:
        gateway.close()


def test_output_size_and_duration_limits_fail_the_job_with_the_limit_named(platform, service_settings, user, tmp_path):
    runner = _runner(platform, service_settings, tmp_path, max_output_bytes=100_000, max_duration=600)
    try:
        job = runner.submit("subset", WHOLE_SST, USER, wait=True)
        assert job.status == FAILED
        assert "max_output_bytes" in job.message and "narrow" in job.message, job.message
        assert not Path(job.output_dir).exists() or not any(Path(job.output_dir).iterdir())
    finally:
        runner.close()
    runner = _runner(platform, service_settings, tmp_path, max_duration=0.01)
    try:
        job = runner.submit("subset", WHOLE_SST, USER, wait=True)
        assert job.status == FAILED
        assert "max_duration" in job.message, job.message
    finally:
        runner.close()
    assert _clusters(platform, user) == []


def test_a_cluster_larger_than_the_gateway_allows_fails_the_job_naming_the_option(
    platform, service_settings, user, tmp_path
):
    runner = _runner(platform, service_settings, tmp_path, worker_memory_gib=512.0)
    try:
        job = runner.submit("aggregate", {"entry": "climeri/sres-a1b-tas", "period": "year"}, USER, wait=True)
        assert job.status == FAILED
        assert "worker_memory=512.0" in job.message and "processes_worker_memory" in job.message, job.message
        assert "must be <=" in job.message, job.message  # the gateway's own words: the user's limit
    finally:
        runner.close()
    assert _clusters(platform, user) == []


def test_concurrent_jobs_beyond_the_limit_are_refused(platform, service_settings, user, tmp_path):
    runner = _runner(platform, service_settings, tmp_path, max_active_jobs_per_user=1)
    try:
        first = runner.submit("subset", WHOLE_SST, USER)
        with pytest.raises(JobLimitError, match="max_active_jobs_per_user"):
            runner.submit("subset", WHOLE_SST, USER)
        deadline = time.monotonic() + 300
        while not runner.get(USER, first.id).final and time.monotonic() < deadline:
            time.sleep(0.5)
        assert runner.get(USER, first.id).status == "successful"
    finally:
        runner.close()
    assert _clusters(platform, user) == []
