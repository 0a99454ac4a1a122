"""The chart with real helm: lint, render, Kubernetes schemas, Chart.lock, values schema, the catalogue."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from helmtools import (
    CHART,
    HUB_FILE,
    KUBE_VERSION,
    VALUE_SETS,
    helm_binary,
    hub_settings,
    load_values,
    run_helm,
)


def test_helm_is_v3() -> None:
    out = subprocess.run([helm_binary(), "version", "--template", "{{.Version}}"], capture_output=True, text=True)
    assert out.stdout.startswith("v3."), out


def test_lint_strict(chart_copy: Path, value_set: str) -> None:
    args = ["lint", "--strict", chart_copy, "--kube-version", KUBE_VERSION]
    for values_file in VALUE_SETS[value_set]:
        args += ["--values", values_file]
    proc = run_helm(*args)
    assert "0 chart(s) failed" in proc.stdout


def test_renders_our_resources(rendered: dict[str, list[dict[str, Any]]], value_set: str) -> None:
    kinds = {(m["kind"], m["metadata"]["name"]) for m in rendered[value_set]}
    assert ("ConfigMap", "gaia-lab-catalog") in kinds
    assert ("ConfigMap", "gaia-lab-hub") in kinds
    assert {name for kind, name in kinds if kind == "NetworkPolicy"} == {
        "gaia-lab-dask-traefik",
        "gaia-lab-dask-gateway-api",
        "gaia-lab-dask-controller",
        "gaia-lab-dask-clusters",
        "gaia-lab-processes",
        "gaia-lab-stac",
    }
    assert {("Deployment", "gaia-lab-processes"), ("Service", "gaia-lab-processes")} <= kinds
    assert {("Deployment", "gaia-lab-stac"), ("Service", "gaia-lab-stac")} <= kinds
    assert (("PersistentVolumeClaim", "gaia-lab-course-data") in kinds) == (value_set == "workshop")


def test_every_manifest_validates_against_kubernetes_schemas(
    rendered: dict[str, list[dict[str, Any]]], value_set: str
) -> None:
    manifests = rendered[value_set]
    assert manifests
    for manifest in manifests:
        kubernetes_validate.validate(manifest, KUBE_VERSION, strict=True)


def test_hub_configmap_carries_the_tested_file(rendered: dict[str, list[dict[str, Any]]]) -> None:
    (cm,) = [m for m in rendered["default"] if m["metadata"]["name"] == "gaia-lab-hub"]
    assert cm["data"]["gaia_lab_hub.py"] == HUB_FILE.read_text()


def test_values_files_override_only_the_limits() -> None:
    # values-*.yaml override only the limits block: the spec's code is the same everywhere.
    default = load_values("default")["dask-gateway"]["gateway"]["extraConfig"]["50-gaia-lab-options"]
    for name in VALUE_SETS:
        assert load_values(name)["dask-gateway"]["gateway"]["extraConfig"]["50-gaia-lab-options"] == default


def test_settings_name_the_gateway_services_of_the_release(rendered: dict[str, list[dict[str, Any]]]) -> None:
    gateway = hub_settings(rendered["default"])["gateway"]
    # dask-gateway names its traefik Service traefik-<release>-dask-gateway.
    assert gateway["address"] == "http://traefik-gaia-lab-dask-gateway.gaia-lab:80/services/dask-gateway"
    assert gateway["proxyAddress"] == "gateway://traefik-gaia-lab-dask-gateway.gaia-lab:80"
    assert gateway["publicAddress"] == "/services/dask-gateway/"
    assert gateway["serviceUrl"] == "http://traefik-gaia-lab-dask-gateway.gaia-lab:80"


def test_gateway_fullname_follows_the_release_name(chart_copy: Path) -> None:
    proc = run_helm(
        "template", "dask-gateway-prod", chart_copy, "--namespace", "ns", "--show-only", "templates/hub-configmap.yaml"
    )
    settings = json.loads(yaml.safe_load(proc.stdout)["data"]["settings.json"])
    # As in the dask-gateway chart: a release name containing the chart name is used as is.
    assert settings["gateway"]["serviceUrl"] == "http://traefik-dask-gateway-prod.ns:80"


def test_network_policy_can_be_disabled(chart_copy: Path) -> None:
    proc = run_helm("template", "x", chart_copy, "--set", "gaiaLab.networkPolicy.enabled=false")
    assert "kind: NetworkPolicy" not in proc.stdout


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("gaiaLab.courseData.enabled=true", "existingClaim"),
        ("gaiaLab.networkPolicy.enabled=maybe", "networkPolicy"),
        ("gaiaLab.unknownKey=1", "unknownKey"),
        ("gaiaLab.catalog.federation.providers[0].name=Not Valid", "name"),
        ("gaiaLab.catalog.federation.providers[0].hub=sky", "hub"),
        ("dask-gateway.gateway.auth.type=simple", "jupyterhub"),
        ("jupyterhub.fullnameOverride=jh", "fullnameOverride"),
    ],
)
def test_bad_values_are_refused(chart_copy: Path, setting: str, message: str) -> None:
    proc = run_helm("template", "x", chart_copy, "--set", setting, check=False)
    assert proc.returncode != 0, proc.stdout
    assert message in proc.stderr, proc.stderr


def test_course_data_from_an_existing_claim(chart_copy: Path) -> None:
    proc = run_helm(
        "template",
        "x",
        chart_copy,
        "--set",
        "gaiaLab.courseData.enabled=true",
        "--set",
        "gaiaLab.courseData.existingClaim=course-2026",
    )
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    assert not [d for d in docs if d["kind"] == "PersistentVolumeClaim"]
    course = hub_settings(docs)["courseData"]
    assert course == {
        "enabled": True,
        "claimName": "course-2026",
        "mountPath": "/home/jovyan/course-data",
        "subPath": "",
    }


def test_chart_lock_matches_chart_yaml(tmp_path: Path) -> None:
    # helm checks the lock's digest against Chart.yaml before it downloads anything: with the digest right, the
    # only error left offline is the missing repository.
    chart = tmp_path / "gaia-lab"
    (chart).mkdir()
    for name in ("Chart.yaml", "Chart.lock", "values.yaml"):
        (chart / name).write_text((CHART / name).read_text())
    proc = run_helm("dependency", "build", chart, check=False)
    assert "out of sync" not in proc.stderr, proc.stderr
    assert "no repository definition" in proc.stderr, proc.stderr
    chart_yaml = yaml.safe_load((CHART / "Chart.yaml").read_text())
    lock = yaml.safe_load((CHART / "Chart.lock").read_text())
    pinned = {d["name"]: (d["version"], d["repository"]) for d in chart_yaml["dependencies"]}
    locked = {d["name"]: (d["version"], d["repository"]) for d in lock["dependencies"]}
    assert (
        pinned
        == locked
        == {
            "jupyterhub": ("4.3.3", "https://hub.jupyter.org/helm-chart/"),
            "dask-gateway": ("2026.3.0", "https://helm.dask.org/"),
        }
    )


def test_the_catalogue_is_a_valid_federation(rendered: dict[str, list[dict[str, Any]]], value_set: str) -> None:
    from gaia_lab.catalog.federation import parse_federation

    (cm,) = [m for m in rendered[value_set] if m["metadata"]["name"] == "gaia-lab-catalog"]
    document = yaml.safe_load(cm["data"]["catalog.yaml"])
    providers = parse_federation(document, source="/etc/gaia-lab/catalog.yaml")
    assert len(providers) == len(load_values(value_set)["gaiaLab"]["catalog"]["federation"]["providers"])


def test_catalogue_path_is_the_same_for_sessions_and_workers(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for name in VALUE_SETS:
        values = load_values(name)
        backend = values["dask-gateway"]["gateway"]["backend"]
        settings = hub_settings(rendered[name])["catalog"]
        path = f"{settings['mountPath']}/{settings['fileName']}"
        assert backend["environment"]["GAIA_LAB_CATALOG"] == path
        for role in ("scheduler", "worker"):
            (mount,) = backend[role]["extraContainerConfig"]["volumeMounts"]
            assert mount["mountPath"] == settings["mountPath"]
            assert mount["readOnly"] is True
            (volume,) = backend[role]["extraPodConfig"]["volumes"]
            assert volume["configMap"]["name"] == settings["configMap"]


def test_processes_service_settings_and_hub_registration(rendered: dict[str, list[dict[str, Any]]]) -> None:
    """The processes server's settings load as the server loads them, name the deployment's gateway, and the hub
    knows the service (its route, token and role)."""
    from gaia_lab.ogc_processes.server import ServiceSettings

    manifests = {(m["kind"], m["metadata"]["name"]): m for m in rendered["default"]}
    settings = ServiceSettings(**json.loads(manifests[("ConfigMap", "gaia-lab-processes")]["data"]["settings.json"]))
    hub = hub_settings(rendered["default"])
    assert settings.gateway_address == hub["gateway"]["address"]
    assert settings.gateway_proxy_address == hub["gateway"]["proxyAddress"]
    assert settings.prefix == "/services/gaia-lab-processes/" and settings.port == 8013
    pod = manifests[("Deployment", "gaia-lab-processes")]["spec"]["template"]["spec"]
    (token,) = [v for v in pod["volumes"] if v["name"] == "token"]
    assert token["secret"]["items"] == [{"key": "hub.services.gaia-lab-processes.apiToken", "path": "token"}]
    environment = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert environment["GAIA_LAB_PROCESSES_TOKEN_FILE"] == "/etc/gaia-lab-processes-token/token"
    values = load_values("default")["jupyterhub"]["hub"]
    assert values["services"]["gaia-lab-processes"]["url"] == "http://gaia-lab-processes:8013"
    assert "tokens" in values["loadRoles"]["gaia-lab-processes"]["scopes"]


def test_processes_settings_ask_the_users_limits_for_worker_cores_and_memory(chart_copy: Path) -> None:
    from gaia_lab.ogc_processes.server import ServiceSettings

    proc = run_helm(
        "template", "x", chart_copy, "--set", "gaiaLab.processes.workerMemoryGiB=3", "--set",
        "gaiaLab.processes.workerCores=2",
    )  # fmt: skip
    docs = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(proc.stdout) if d}
    settings = ServiceSettings(**json.loads(docs[("ConfigMap", "gaia-lab-processes")]["data"]["settings.json"]))
    assert (settings.worker_memory_gib, settings.worker_cores) == (3.0, 2)
    refused = run_helm("template", "x", chart_copy, "--set", "gaiaLab.processes.workerMemoryGiB=0.1", check=False)
    assert refused.returncode != 0 and "workerMemoryGiB" in refused.stderr


def test_workers_mount_their_users_results_directory_of_the_processes_volume(
    chart_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Results are written by the user's workers: with a results claim, the gateway gives each user's workers their
    own directory of it (results/<user>) at the path the service gives the jobs; the service's pod has the whole
    claim at the same place, and creates each user's directory first."""
    import asyncio

    from dask_gateway_server.backends.base import PublicException
    from dask_gateway_server.backends.kubernetes import KubeBackend
    from dask_gateway_server.models import User
    from helmtools import gateway_config

    from gaia_lab.ogc_processes.server import ServiceSettings, results_dir_for

    proc = run_helm("template", "x", chart_copy, "--set", "gaiaLab.processes.dataClaim=gaia-results")
    docs = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(proc.stdout) if d}
    results = tmp_path / "results.json"
    results.write_text(docs[("ConfigMap", "gaia-lab-processes-results")]["data"]["results.json"])
    settings = ServiceSettings(**json.loads(docs[("ConfigMap", "gaia-lab-processes")]["data"]["settings.json"]))
    assert settings.prepare_results_dirs
    service_pod = docs[("Deployment", "gaia-lab-processes")]["spec"]["template"]["spec"]
    (data,) = [v for v in service_pod["volumes"] if v["name"] == "data"]
    assert data["persistentVolumeClaim"]["claimName"] == "gaia-results"
    (service_mount,) = [m for m in service_pod["containers"][0]["volumeMounts"] if m["name"] == "data"]

    def configure(user: str) -> Any:
        c = gateway_config(load_values("default"))
        backend = KubeBackend(config=c)
        return asyncio.run(backend.process_cluster_options(User(name=user, groups=[], admin=False), {}))[1]

    monkeypatch.setenv("GAIA_LAB_PROCESSES_RESULTS_FILE", str(results))
    config = configure("alice")
    volumes = {v["name"]: v for v in config.worker_extra_pod_config["volumes"]}
    assert volumes["gaia-lab-results"]["persistentVolumeClaim"]["claimName"] == "gaia-results"
    assert "gaia-lab-catalog" in volumes  # the chart's own worker volumes stay
    mounts = {m["name"]: m for m in config.worker_extra_container_config["volumeMounts"]}
    mount = mounts["gaia-lab-results"]
    # the worker sees, at the service's own path for alice's results, alice's directory of the claim and no other
    job_dir = results_dir_for(settings)("alice") / "job-1"
    inside = Path(service_mount["mountPath"]) / mount["subPath"]
    assert job_dir.is_relative_to(mount["mountPath"]) and job_dir.is_relative_to(inside)
    assert mount["subPath"] == "results/alice" and "readOnly" not in mount
    assert "gaia-lab-results" not in {v["name"] for v in config.scheduler_extra_pod_config.get("volumes", [])}
    assert configure("bob").worker_extra_container_config["volumeMounts"][-1]["subPath"] == "results/bob"
    with pytest.raises(PublicException, match="cannot name a results directory"):
        configure("..")

    # without a claim nothing is mounted (the workers keep the chart's volumes only)
    monkeypatch.setenv("GAIA_LAB_PROCESSES_RESULTS_FILE", str(tmp_path / "absent.json"))
    assert "gaia-lab-results" not in {v["name"] for v in configure("alice").worker_extra_pod_config["volumes"]}
    # the gateway's pod reads the ConfigMap where the block looks for it
    gateway = load_values("default")["dask-gateway"]["gateway"]
    assert gateway["extraPodConfig"]["volumes"][0]["configMap"]["name"] == "gaia-lab-processes-results"
    assert gateway["extraContainerConfig"]["volumeMounts"][0]["mountPath"] == "/etc/gaia-lab-processes-results"
