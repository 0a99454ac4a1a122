"""The dask-gateway extraConfig blocks of each values file, executed in the gateway's config as the dask-gateway
chart does, then a real dask-gateway-server KubeBackend processing cluster option requests."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from helmtools import gateway_config, load_values

GIB = 2**30


def process(value_set: str, request: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    from dask_gateway_server.backends.kubernetes import KubeBackend
    from dask_gateway_server.models import User

    c = gateway_config(load_values(value_set))
    backend = KubeBackend(config=c)
    user = User(name="alice", groups=["gaia-lab-users"], admin=False)
    return asyncio.run(backend.process_cluster_options(user, request))


def limits(value_set: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {}
    exec(load_values(value_set)["dask-gateway"]["gateway"]["extraConfig"]["00-gaia-lab-limits"], namespace)
    return namespace["GAIA_LAB_CLUSTER_LIMITS"]


def test_defaults(value_set: str) -> None:
    lim = limits(value_set)
    options, config = process(value_set, {})
    assert options["worker_cores"] == lim["worker_cores"]["default"]
    assert config.worker_cores == config.worker_cores_limit == lim["worker_cores"]["default"]
    assert config.worker_memory == int(lim["worker_memory_gib"]["default"] * GIB)
    assert config.cluster_max_workers == lim["max_workers"]["default"]
    assert config.idle_timeout == lim["idle_timeout_seconds"]
    assert config.cluster_max_cores == lim["cluster_max_cores"]
    # distributed 2026 has `dask scheduler` / `dask worker`, not the dask-scheduler script of the defaults
    assert config.scheduler_cmd == ["dask", "scheduler"]
    assert config.worker_cmd == ["dask", "worker"]
    # the catalogue reaches every scheduler and worker
    assert config.environment["GAIA_LAB_CATALOG"] == "/etc/gaia-lab/catalog.yaml"
    assert config.worker_extra_pod_config["securityContext"]["runAsNonRoot"] is True


def test_valid_choices_at_the_limits(value_set: str) -> None:
    lim = limits(value_set)
    session_image = lim["image_prefixes"][0] + ("0.1.0" if lim["image_prefixes"][0].endswith(":") else "x:1")
    request = {
        "worker_cores": lim["worker_cores"]["max"],
        "worker_memory": lim["worker_memory_gib"]["max"],
        "max_workers": lim["max_workers"]["max"],
        "image": session_image,
        "environment": {"MY_SETTING": "1", "OMP_NUM_THREADS": 2},
    }
    _options, config = process(value_set, request)
    assert config.worker_cores == config.worker_threads == lim["worker_cores"]["max"]
    assert config.worker_memory_limit == int(lim["worker_memory_gib"]["max"] * GIB)
    assert config.cluster_max_workers == lim["max_workers"]["max"]
    assert config.image == session_image
    # user variables are added to, not replacing, the configured worker environment
    assert config.environment["MY_SETTING"] == "1"
    assert config.environment["OMP_NUM_THREADS"] == "2"
    assert config.environment["GAIA_LAB_CATALOG"] == "/etc/gaia-lab/catalog.yaml"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("worker_cores", lambda lim: lim["worker_cores"]["max"] + 1, "worker_cores must be <="),
        ("worker_cores", lambda lim: 0, "worker_cores must be >="),
        ("worker_memory", lambda lim: lim["worker_memory_gib"]["max"] + 0.5, "worker_memory must be <="),
        ("max_workers", lambda lim: lim["max_workers"]["max"] + 1, "max_workers must be <="),
        ("image", lambda lim: "docker.io/evil/miner:latest", "is not allowed"),
        ("environment", lambda lim: {"BAD NAME": "x"}, "not a valid variable name"),
        ("environment", lambda lim: {f"V{i}": "x" for i in range(lim["max_environment_variables"] + 1)}, "at most"),
        ("gpus", lambda lim: 1, "Unknown fields"),
    ],
)
def test_out_of_limit_choices_are_refused(value_set: str, field: str, value: Any, message: str) -> None:
    from dask_gateway_server.backends.base import PublicException

    with pytest.raises(PublicException, match=message):
        process(value_set, {field: value(limits(value_set))})


def test_workshop_is_smaller_than_production() -> None:
    workshop, production = limits("workshop"), limits("production")
    for key in ("worker_cores", "worker_memory_gib", "max_workers"):
        assert workshop[key]["max"] < production[key]["max"]


def test_bad_limits_are_named() -> None:
    values = load_values("default")
    values["dask-gateway"]["gateway"]["extraConfig"]["00-gaia-lab-limits"] = (
        'GAIA_LAB_CLUSTER_LIMITS = {"worker_cores": {"default": 8, "max": 4}}'
    )
    with pytest.raises(ValueError, match="worker_cores"):
        gateway_config(values)
    values["dask-gateway"]["gateway"]["extraConfig"]["00-gaia-lab-limits"] = "GAIA_LAB_CLUSTER_LIMITS = {'cpus': 1}"
    with pytest.raises(ValueError, match="unknown key 'cpus'"):
        gateway_config(values)
