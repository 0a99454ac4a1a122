"""`gaia-lab up --metrics` on the session's platform (conftest.py starts it with metrics on): Prometheus on 127.0.0.1
scrapes the hub, the gateway and the GAIA Lab exporter with their tokens; after a login, a search, reads and a
Gateway cluster, the series hold what happened, asked through Prometheus's HTTP API; no metric endpoint answers
without its token."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests
from dask_gateway import Gateway, JupyterHubAuth

from gaia_lab.platform import metrics as platform_metrics

pytestmark = [pytest.mark.platform, pytest.mark.slow]

USER = "metrics-ana"
GROUP = "metrics-class"

KERNEL_CODE = r"""
import json, os
import gaia_lab as gl
from gaia_lab import metrics

assert os.environ["GAIA_LAB_METRICS_URL"].endswith("/api/v1/report"), os.environ["GAIA_LAB_METRICS_URL"]
cat = gl.open_catalog()
res = cat.search(q="sea surface temperature")
assert not res.errors, res.errors
sst = cat["odatis/ostia-sst"].to_xarray()["sst"]
local_mean = float(sst.mean().compute(scheduler="synchronous"))
# Workers import this checkout's gaia_lab as the session does (the test runs from a source tree).
environment = {"PYTHONPATH": os.environ["PYTHONPATH"]} if os.environ.get("PYTHONPATH") else None
with gl.cluster(n_workers=1, adaptive=None, worker_memory="1 GiB", environment=environment) as client:
    cluster_mean = float(sst.mean().compute())
    workers = client.run(metrics.snapshot)
sent = metrics.flush() or not metrics.snapshot()
print("RESULT" + json.dumps({
    "session": metrics.snapshot(), "workers": list(workers.values()), "sent": sent,
    "local_mean": local_mean, "cluster_mean": cluster_mean,
}))
"""


def _result(output: str) -> dict[str, Any]:
    line = next(line for line in output.splitlines() if line.startswith("RESULT"))
    result: dict[str, Any] = json.loads(line[len("RESULT") :])
    return result


@pytest.fixture(scope="module")
def metrics_secrets(platform) -> dict[str, str]:
    secrets: dict[str, str] = json.loads((platform.layout.data_dir / "metrics" / "secrets.json").read_text())
    return secrets


@pytest.fixture(scope="module")
def prometheus(platform, metrics_secrets) -> requests.Session:
    session = requests.Session()
    session.auth = (platform_metrics.PROMETHEUS_USER, metrics_secrets["prometheus_password"])
    session.base_url = platform.info.prometheus_url  # type: ignore[attr-defined]
    return session


def query(prometheus: requests.Session, expression: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Instant query: {labels (sorted, without __name__): value}."""
    response = prometheus.get(f"{prometheus.base_url}api/v1/query", params={"query": expression}, timeout=30)  # type: ignore[attr-defined]
    response.raise_for_status()
    body = response.json()
    assert body["status"] == "success", body
    return {
        tuple(sorted((k, v) for k, v in row["metric"].items() if k != "__name__")): float(row["value"][1])
        for row in body["data"]["result"]
    }


def value(prometheus: requests.Session, expression: str) -> float | None:
    rows = query(prometheus, expression)
    assert len(rows) <= 1, rows
    return next(iter(rows.values()), None)


def eventually(check: Callable[[], Any], timeout: float = 60.0) -> Any:
    """The first truthy result of ``check``, asked until ``timeout`` (scrapes run every 2 s here)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.5)


def test_prometheus_scrapes_every_target_with_its_token(platform, prometheus):
    assert platform.info.prometheus_url.startswith("http://127.0.0.1:")

    def targets() -> list[dict[str, Any]] | None:
        response = prometheus.get(f"{prometheus.base_url}api/v1/targets", timeout=30)  # type: ignore[attr-defined]
        response.raise_for_status()
        active: list[dict[str, Any]] = response.json()["data"]["activeTargets"]
        return active if active and all(t["health"] == "up" for t in active) else None

    active = eventually(targets)
    assert active, prometheus.get(f"{prometheus.base_url}api/v1/targets", timeout=30).text  # type: ignore[attr-defined]
    assert sorted(t["labels"]["job"] for t in active) == ["dask-gateway", "gaia-lab", "jupyterhub"]
    for target in active:
        assert target["scrapeUrl"].startswith("http://127.0.0.1:"), target
        assert target["lastError"] == ""
    # Each target's own metrics arrived.
    assert value(prometheus, 'up{job="jupyterhub"}') == 1
    assert query(prometheus, "jupyterhub_total_users")
    assert query(prometheus, "dask_gateway_clusters")
    assert value(prometheus, "gaia_lab_usage_up") == 1
    # The catalogue services expose nothing themselves: the exporter probes them.
    probes = query(prometheus, "gaia_lab_service_up")
    assert {dict(labels)["service"] for labels in probes} == {"lake", "opendap", "csw", "records"}
    assert set(probes.values()) == {1.0}


def test_metric_endpoints_refuse_requests_without_their_token(platform, make_user, metrics_secrets):
    ip, ports = "127.0.0.1", platform.info.ports
    bob = make_user("metrics-bob")
    user_token = {"Authorization": f"token {bob.token}"}
    scrape = {"Authorization": f"Bearer {metrics_secrets['scrape_token']}"}
    endpoints = {
        "hub": f"http://{ip}:{ports.hub_port}/hub/metrics",
        "hub via proxy": f"{platform.info.hub_url}hub/metrics",
        "gateway": f"http://{ip}:{ports.gateway_api_port}/api/metrics",
        "gateway via proxy": f"{platform.info.gateway_url}/api/metrics",
        "exporter": f"http://{ip}:{ports.metrics_port}/metrics",
    }
    for name, url in endpoints.items():
        for headers in ({}, user_token, {"Authorization": "Bearer not-the-token"}):
            response = requests.get(url, headers=headers, timeout=30)
            assert response.status_code in (401, 403), (name, headers, response.status_code, response.text[:200])
            assert "_seconds" not in response.text and "gaia_lab_" not in response.text, name
    # What Prometheus presents works (the hub's read:metrics token only on the hub).
    hub_token = {"Authorization": f"Bearer {metrics_secrets['prometheus_hub_token']}"}
    assert requests.get(endpoints["hub"], headers=hub_token, timeout=30).status_code == 200
    assert requests.get(endpoints["gateway"], headers=hub_token, timeout=30).status_code == 401
    for name in ("gateway", "gateway via proxy", "exporter"):
        assert requests.get(endpoints[name], headers=scrape, timeout=30).status_code == 200, name
    # Prometheus's own API asks for its password.
    assert requests.get(f"{platform.info.prometheus_url}api/v1/targets", timeout=30).status_code == 401
    wrong = requests.get(f"{platform.info.prometheus_url}api/v1/targets", auth=("gaia-lab", "nope"), timeout=30)
    assert wrong.status_code == 401
    # Reports need a user's token, and cannot choose the user they count for.
    report_url = f"http://{ip}:{ports.metrics_port}/api/v1/report"
    report = {"reads": {"odatis": {"bytes": 10, "requests": 1, "errors": 0}}, "user": "metrics-ana"}
    assert requests.post(report_url, json=report, timeout=30).status_code == 401
    assert requests.post(report_url, json=report, headers=scrape, timeout=30).status_code == 401
    refused = requests.post(report_url, json=report, headers=user_token, timeout=30)
    assert refused.status_code == 400 and "expected an object with 'search' and 'reads'" in refused.text
    del report["user"]
    assert requests.post(report_url, json=report, headers=user_token, timeout=30).status_code == 204


def test_login_search_reads_and_cluster_show_in_prometheus(platform, make_user, secrets, prometheus):
    from hubclient import HubUser

    admin = HubUser(platform.info.hub_url, "admin", secrets["admin_password"])
    admin.login()
    admin.create_token()
    ana = make_user(USER)
    created = admin.api("POST", f"hub/api/groups/{GROUP}", json={"users": [USER]})
    assert created.status_code in (201, 409), created.text
    ana.start_server()

    result = _result(ana.run(KERNEL_CODE, timeout=300))
    assert result["sent"] is True
    assert result["cluster_mean"] == pytest.approx(result["local_mean"], rel=1e-9)
    session, workers = result["session"], result["workers"]
    # The session searched every provider of its federation and read the SST cube from the lake (odatis).
    assert "odatis" in session["search"] and len(session["search"]) >= 5
    assert session["reads"]["odatis"][0] > 0 and session["reads"]["odatis"][1] > 0
    assert workers and workers[0]["reads"]["odatis"][0] > 0, workers
    expected_bytes = session["reads"]["odatis"][0] + sum(w["reads"]["odatis"][0] for w in workers)
    expected_requests = session["reads"]["odatis"][1] + sum(w["reads"]["odatis"][1] for w in workers)

    reads = f'gaia_lab_data_read_bytes_total{{user="{USER}",provider="odatis"}}'
    assert eventually(lambda: value(prometheus, reads) == expected_bytes), (value(prometheus, reads), expected_bytes)
    requests_made = value(prometheus, f'gaia_lab_data_read_requests_total{{user="{USER}",provider="odatis"}}')
    assert requests_made == expected_requests
    assert value(prometheus, f'gaia_lab_data_read_errors_total{{user="{USER}",provider="odatis"}}') == 0
    counts = query(prometheus, f'gaia_lab_search_duration_seconds_count{{user="{USER}"}}')
    assert {dict(labels)["provider"]: count for labels, count in counts.items()} == {
        provider: row["count"] for provider, row in session["search"].items()
    }
    total = value(prometheus, f'sum(gaia_lab_search_duration_seconds_sum{{user="{USER}"}})')
    assert total == pytest.approx(sum(row["sum"] for row in session["search"].values()), rel=1e-9)
    # The user's cluster started and stopped: the gateway timed its start, the hub the server's spawn.
    assert value(prometheus, "sum(dask_gateway_cluster_start_seconds_count)") >= 1
    assert value(prometheus, 'sum(jupyterhub_server_spawn_duration_seconds_count{status="success"})') >= 1

    # A cluster kept running: its workers, cores and memory per user and per group.
    gateway = Gateway(
        address=platform.info.gateway_url,
        proxy_address=platform.info.gateway_proxy_address,
        auth=JupyterHubAuth(api_token=ana.token),
    )
    options = gateway.cluster_options()
    options.worker_cores = 1
    options.worker_memory = 1.0
    cluster = gateway.new_cluster(options, shutdown_on_close=True)
    try:
        # No client here: the test's Python is not the scheduler's (distributed would warn of the mismatch); the
        # gateway's database, which the exporter reads, says when both workers run.
        cluster.scale(2)
        config = json.loads(_cluster_config(platform.layout.gateway_dir / "gateway.sqlite", cluster.name))
        cores = config["scheduler_cores"] + 2 * config["worker_cores"]
        memory = config["scheduler_memory"] + 2 * config["worker_memory"]
        for scope, label in (("user", USER), ("group", GROUP)):
            selector = f'{{{scope}="{label}"}}'
            expected = {"workers": 2, "clusters": 1, "running_servers": 1, "cores": cores, "memory_bytes": memory}
            workers_now = f"gaia_lab_{scope}_workers{selector}"
            running = eventually(lambda q=workers_now: value(prometheus, q) == 2, timeout=180)
            assert running, value(prometheus, workers_now)
            for name, wanted in expected.items():
                assert value(prometheus, f"gaia_lab_{scope}_{name}{selector}") == wanted, (scope, name)
        assert value(prometheus, "gaia_lab_active_users") >= 1
        # Another target, scraped at its own moment.
        gateway_workers = 'dask_gateway_workers{status="running"}'
        assert eventually(lambda: (value(prometheus, gateway_workers) or 0) >= 2), value(prometheus, gateway_workers)
        # The gateway learns that a worker runs from its scheduler's heartbeat (every 15 s): the workers of the
        # session's short-lived cluster may have come and gone between two; these two have been seen running.
        started = "sum(dask_gateway_worker_start_seconds_count)"
        assert eventually(lambda: (value(prometheus, started) or 0) >= 2), value(prometheus, started)
    finally:
        cluster.shutdown()
        gateway.close()
    gone = f'gaia_lab_user_clusters{{user="{USER}"}}'
    assert eventually(lambda: value(prometheus, gone) == 0), value(prometheus, gone)


def _cluster_config(db_file, name: str) -> str:
    import sqlite3

    with sqlite3.connect(f"file:{db_file}?mode=ro", uri=True) as connection:
        row = connection.execute("SELECT config FROM clusters WHERE name = ?", (name,)).fetchone()
    config: bytes = row[0]
    return config.decode()
