"""The exporter's aggregation, without servers: usage per user and group from hub user models and dask-gateway's own
database (written by dask-gateway-server's DataManager, so the schema is upstream's), session reports checked and
bounded, and what the platform writes for Prometheus and the hub."""

from __future__ import annotations

import asyncio
import copy
import ctypes
import ctypes.util
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.fernet import Fernet
from dask_gateway_server.backends.base import ClusterConfig
from dask_gateway_server.backends.db_base import DataManager, JobStatus
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gaia_lab.errors import ConfigError
from gaia_lab.metrics import MAX_PROVIDERS, OTHER, SEARCH_BUCKETS
from gaia_lab.platform import hub_config
from gaia_lab.platform import metrics as platform_metrics
from gaia_lab.platform.config import load_config
from gaia_lab.platform.layout import PORT_OWNERS, Layout, Ports
from gaia_lab.platform.metrics_aggregate import (
    ClusterUse,
    InvalidReport,
    SessionTotals,
    aggregate,
    cluster_use,
    parse_report,
    read_gateway_clusters,
)
from gaia_lab.platform.metrics_exporter import ExporterCollector, Hub

GIB = 2**30

# Hub user models as JupyterHub 6's REST API returns them (GET /hub/api/users, trimmed to the fields used).
USERS = [
    {"name": "ana", "groups": ["ocean", "class-a"], "servers": {"": {"ready": True}, "gpu": {"ready": False}}},
    {"name": "ben", "groups": ["ocean"], "servers": {}},
    {"name": "chloe", "groups": [], "servers": {"": {"ready": True}}},
]


def _gateway_db(path: Path) -> Path:
    """A gateway database as dask-gateway-server writes it: ana has a running cluster (3 workers, one still
    starting, one stopped), ben a cluster still pending, chloe a stopped one."""
    asyncio.run(_write_gateway_db(path))
    return path


async def _write_gateway_db(path: Path) -> None:
    # Upstream's records hold asyncio futures: made inside a running loop, as in the gateway.
    manager = DataManager(url=f"sqlite:///{path}", encrypt_keys=[Fernet.generate_key()])
    config = ClusterConfig(worker_cores=2, worker_memory=4 * GIB, scheduler_cores=1, scheduler_memory=GIB).to_dict()
    running = manager.create_cluster("ana", {}, config)
    manager.update_cluster(running, status=JobStatus.RUNNING)
    workers = [manager.create_worker(running) for _ in range(4)]
    manager.update_workers([(w, {"status": JobStatus.RUNNING}) for w in workers[:2]])
    manager.update_workers([(workers[3], {"status": JobStatus.STOPPED})])
    manager.create_cluster("ben", {}, config)
    stopped = manager.create_cluster("chloe", {}, config)
    manager.update_cluster(stopped, status=JobStatus.STOPPED)


def test_gateway_clusters_are_read_from_its_database(tmp_path: Path) -> None:
    clusters = sorted(read_gateway_clusters(_gateway_db(tmp_path / "gateway.sqlite")), key=lambda c: c.user)
    assert clusters == [
        # scheduler (1 core, 1 GiB) + 2 running workers (2 cores, 4 GiB each)
        ClusterUse(user="ana", workers=2, cores=5.0, memory=9 * GIB),
        ClusterUse(user="ben", workers=0, cores=1.0, memory=GIB),
    ]
    assert read_gateway_clusters(tmp_path / "absent.sqlite") == []


def test_usage_per_user_and_per_group() -> None:
    clusters = [
        cluster_use(
            "ana", {"worker_cores": 2, "worker_memory": 4 * GIB, "scheduler_cores": 1, "scheduler_memory": GIB}, 2
        ),
        cluster_use("ana", {"worker_cores": 1, "worker_memory": GIB, "scheduler_cores": 1, "scheduler_memory": GIB}, 1),
        cluster_use("dora", {"worker_cores": 1, "worker_memory": GIB}, 1),  # removed from the hub since
    ]
    report = aggregate(USERS, clusters)
    ana = report.per_user["ana"]
    assert (ana.servers, ana.clusters, ana.workers, ana.cores, ana.memory) == (1, 2, 3, 7.0, 11 * GIB)
    assert report.per_user["ben"].servers == 0 and report.per_user["ben"].clusters == 0
    assert report.per_user["dora"].clusters == 1
    ocean = report.per_group["ocean"]
    assert (ocean.servers, ocean.clusters, ocean.workers, ocean.cores, ocean.memory) == (1, 2, 3, 7.0, 11 * GIB)
    assert report.per_group["class-a"] == ana
    assert set(report.per_group) == {"ocean", "class-a"}
    assert report.active_users == 3  # ana, chloe (server), dora (cluster); not ben


def _report(**reads: Any) -> dict[str, Any]:
    return {"search": {}, "reads": {p: {"bytes": b, "requests": 1, "errors": 0} for p, b in reads.items()}}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.update(user="ben"), "expected an object with 'search' and 'reads'"),
        (lambda r: r["reads"].update({"bad label!": {"bytes": 1, "requests": 1}}), "provider 'bad label!'"),
        (lambda r: r["reads"]["odatis"].update(bytes=-5), r"reads\[odatis\].bytes"),
        (lambda r: r["reads"]["odatis"].update(bytes=1.5), r"reads\[odatis\].bytes"),
        (lambda r: r["search"]["odatis"].update(buckets=[1, 0, 0]), "expected 10 counts"),
        (lambda r: r["search"]["odatis"].update(buckets=[3] * len(SEARCH_BUCKETS)), "cumulative counts"),
        (lambda r: r["search"]["odatis"].update(errors=9), "errors: more than count"),
        (lambda r: r["search"]["odatis"].update(sum="1"), "seconds"),
    ],
)
def test_malformed_reports_are_refused_and_change_nothing(change: Any, message: str) -> None:
    good = _report(odatis=100)
    good["search"]["odatis"] = {"buckets": [0, 1, 1, 1, 1, 1, 1, 1, 1, 1], "sum": 0.07, "count": 1, "errors": 0}
    totals = SessionTotals()
    totals.add("ana", good)
    bad = copy.deepcopy(good)
    change(bad)
    with pytest.raises(InvalidReport, match=message):
        totals.add("ana", bad)
    search, reads = totals.copy()
    assert reads == {("ana", "odatis"): [100, 1, 0]}
    assert search[("ana", "odatis")].count == 1


def test_session_totals_accumulate_per_user_and_bound_providers() -> None:
    totals = SessionTotals()
    totals.add("ana", _report(odatis=100))
    totals.add("ana", _report(odatis=50))
    totals.add("ben", _report(odatis=7))
    for start in range(0, MAX_PROVIDERS + 20, 20):
        totals.add("chloe", _report(**{f"p{i}": 1 for i in range(start, start + 20)}))
    _, reads = totals.copy()
    assert reads[("ana", "odatis")] == [150, 2, 0]
    assert reads[("ben", "odatis")] == [7, 1, 0]
    chloe = {provider for user, provider in reads if user == "chloe"}
    assert len(chloe) == MAX_PROVIDERS + 1 and OTHER in chloe
    with pytest.raises(InvalidReport, match="at most"):
        parse_report(_report(**{f"p{i}": 1 for i in range(MAX_PROVIDERS + 2)}))


def test_the_exporter_exposes_usage_and_reports_in_prometheus_format(tmp_path: Path) -> None:
    class ListedHub(Hub):
        def users(self) -> list[dict[str, Any]]:
            return USERS

    totals = SessionTotals()
    totals.add(
        "ana",
        {
            "search": {"odatis": {"buckets": [0, 1, 1, 1, 1, 1, 2, 2, 2, 2], "sum": 3.07, "count": 2, "errors": 1}},
            "reads": {"odatis": {"bytes": 1500, "requests": 3, "errors": 1}},
        },
    )
    collector = ExporterCollector(
        ListedHub("http://127.0.0.1:1/hub/api", "t"), _gateway_db(tmp_path / "g.sqlite"), totals, {}
    )

    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        for sample in family.samples
    }
    assert samples[("gaia_lab_usage_up", ())] == 1
    assert samples[("gaia_lab_active_users", ())] == 3  # ana, chloe (servers), ben (a pending cluster)
    assert samples[("gaia_lab_user_workers", (("user", "ana"),))] == 2
    assert samples[("gaia_lab_user_cores", (("user", "ana"),))] == 5
    assert samples[("gaia_lab_user_memory_bytes", (("user", "ana"),))] == 9 * GIB
    assert samples[("gaia_lab_group_clusters", (("group", "ocean"),))] == 2
    assert samples[("gaia_lab_group_running_servers", (("group", "ocean"),))] == 1
    ana_odatis = (("provider", "odatis"), ("user", "ana"))
    assert samples[("gaia_lab_data_read_bytes_total", ana_odatis)] == 1500
    assert samples[("gaia_lab_data_read_errors_total", ana_odatis)] == 1
    assert samples[("gaia_lab_search_duration_seconds_count", ana_odatis)] == 2
    assert samples[("gaia_lab_search_duration_seconds_bucket", (("le", "0.1"), *ana_odatis))] == 1
    assert samples[("gaia_lab_search_duration_seconds_bucket", (("le", "+Inf"), *ana_odatis))] == 2
    assert samples[("gaia_lab_search_errors_total", ana_odatis)] == 1


def test_an_unreachable_hub_turns_usage_down_not_the_scrape(tmp_path: Path) -> None:
    collector = ExporterCollector(Hub("http://127.0.0.1:1/hub/api", "t"), None, SessionTotals(), {})
    families = {family.name: family for family in collector.collect()}
    assert families["gaia_lab_usage_up"].samples[0].value == 0
    assert "gaia_lab_user_workers" not in families


def _ports() -> Ports:
    return Ports(**{name: 18000 + index for index, name in enumerate(PORT_OWNERS)})


def test_platform_settings_for_metrics(tmp_path: Path) -> None:
    config = load_config(None, data_dir=str(tmp_path), metrics=True, metrics_scrape_interval="2s")
    assert (config.prometheus_port, config.metrics_port) == (8011, 8012)
    assert load_config(None).metrics is False
    layout = Layout(tmp_path, tmp_path / "lake")
    ports = _ports()
    environment = hub_config.session_environment(config, layout, ports, "/venv/bin/python")
    assert environment["GAIA_LAB_METRICS_URL"] == f"http://127.0.0.1:{ports.metrics_port}/api/v1/report"
    assert "GAIA_LAB_METRICS_URL" not in hub_config.session_environment(
        load_config(None, data_dir=str(tmp_path)), layout, ports, "/venv/bin/python"
    )
    scrape = platform_metrics.scrape_config(config, ports, {"hub": tmp_path / "h", "scrape": tmp_path / "s"})
    jobs = {job["job_name"]: job for job in scrape["scrape_configs"]}
    assert jobs["jupyterhub"]["static_configs"][0]["targets"] == [f"127.0.0.1:{ports.hub_port}"]
    assert jobs["jupyterhub"]["authorization"]["credentials_file"] == str(tmp_path / "h")
    assert {job["authorization"]["credentials_file"] for name, job in jobs.items() if name != "jupyterhub"} == {
        str(tmp_path / "s")
    }
    assert scrape["global"]["scrape_interval"] == "2s"
    yaml.safe_dump(scrape)  # Prometheus reads it as YAML
    roles = {role["name"]: role for role in platform_metrics.hub_roles()}
    assert roles[platform_metrics.PROMETHEUS_SERVICE]["scopes"] == ["read:metrics"]
    assert not any(scope.startswith(("admin", "tokens", "users")) for scope in roles["gaia-lab-metrics"]["scopes"])
    assert "c.JupyterHub.authenticate_prometheus = True" in platform_metrics.hub_config_lines()
    with pytest.raises(ConfigError, match="metrics_scrape_interval='often': a Prometheus duration"):
        load_config(None, metrics_scrape_interval="often")
    with pytest.raises(ConfigError, match="metrics_port and prometheus_port both use port 9000"):
        load_config(None, prometheus_port=9000, metrics_port=9000)


def test_prometheus_password_is_a_bcrypt_hash_crypt_verifies() -> None:
    hashed = platform_metrics.bcrypt_hash("correct horse")
    assert hashed.startswith("$2b$10$")
    library = ctypes.CDLL(ctypes.util.find_library("crypt"))
    library.crypt.restype = ctypes.c_char_p
    library.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    assert library.crypt(b"correct horse", hashed.encode()).decode() == hashed
    assert library.crypt(b"wrong horse", hashed.encode()).decode() != hashed
