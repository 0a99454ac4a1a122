# GAIA Lab configuration of dask-gateway on Kubernetes: cluster options with limits, ceilings, idle timeout.
#
# The upstream dask-gateway chart appends gateway.extraConfig blocks, in key order, to its generated
# dask_gateway_config.py, where `c` is the gateway's config object. values.yaml carries this file verbatim as the
# block "50-gaia-lab-options" (a test checks the copy is identical) because a parent chart cannot template its
# subcharts' values. The numbers live in the block "00-gaia-lab-limits", which defines GAIA_LAB_CLUSTER_LIMITS;
# missing keys fall back to the defaults below.
#
# Users choose worker cores, worker memory, the most workers, the image and extra environment variables, each
# within the limits; anything outside them is refused with a message naming the option and the limit.
import re as _gaia_lab_re
from typing import Any as _GaiaLabAny

from dask_gateway_server.options import Float as _GaiaLabFloat
from dask_gateway_server.options import Integer as _GaiaLabInteger
from dask_gateway_server.options import Mapping as _GaiaLabMapping
from dask_gateway_server.options import Options as _GaiaLabOptions
from dask_gateway_server.options import String as _GaiaLabString

_GAIA_LAB_GIB = 2**30
_GAIA_LAB_ENV_NAME = _gaia_lab_re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_GAIA_LAB_DEFAULT_LIMITS = {
    "worker_cores": {"default": 1, "max": 4},
    "worker_memory_gib": {"default": 2.0, "max": 8.0},
    "max_workers": {"default": 4, "max": 20},
    "cluster_max_cores": 40,
    "cluster_max_memory_gib": 160,
    "idle_timeout_seconds": 1800,
    # Images users may run workers in, besides the gateway's default: the session images, so that
    # "{JUPYTER_IMAGE_SPEC}" is accepted. A prefix ends with ":" (any tag of one image) or "/" (a registry path).
    "image_prefixes": [],
    "max_environment_variables": 32,
}


def _gaia_lab_limits(overrides: dict[str, _GaiaLabAny] | None) -> dict[str, _GaiaLabAny]:
    limits = {
        key: (dict(value) if isinstance(value, dict) else value) for key, value in _GAIA_LAB_DEFAULT_LIMITS.items()
    }
    for key, value in (overrides or {}).items():
        if key not in limits:
            raise ValueError(f"GAIA_LAB_CLUSTER_LIMITS: unknown key {key!r}; known: {sorted(limits)}")
        if isinstance(limits[key], dict):
            limits[key].update(value)
        else:
            limits[key] = value
    for key in ("worker_cores", "worker_memory_gib", "max_workers"):
        if not 0 < limits[key]["default"] <= limits[key]["max"]:
            raise ValueError(f"GAIA_LAB_CLUSTER_LIMITS[{key!r}]: need 0 < default <= max, got {limits[key]}")
    return limits


def _gaia_lab_check_image(image: str, default_image: str, prefixes: list[str]) -> str:
    if image == default_image or any(image.startswith(prefix) for prefix in prefixes):
        return image
    allowed = [default_image, *(f"{p}*" for p in prefixes)]
    raise ValueError(f"image {image!r} is not allowed; allowed: {allowed}")


def _gaia_lab_check_environment(
    environment: dict[str, _GaiaLabAny], base: dict[str, str], max_count: int
) -> dict[str, str]:
    if len(environment) > max_count:
        raise ValueError(f"environment: at most {max_count} variables, got {len(environment)}")
    merged = dict(base)
    for name, value in environment.items():
        if not isinstance(name, str) or not _GAIA_LAB_ENV_NAME.match(name):
            raise ValueError(f"environment: {name!r} is not a valid variable name")
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ValueError(f"environment: {name} must be a string or a number, got {value!r}")
        merged[name] = str(value)
    return merged


def _gaia_lab_cluster_options(config: _GaiaLabAny, overrides: dict[str, _GaiaLabAny] | None) -> _GaiaLabOptions:
    """Configure the cluster options on `config` (the gateway's `c`) and return the Options object."""
    limits = _gaia_lab_limits(overrides)
    cluster_config = config.KubeClusterConfig
    default_image = cluster_config.get("image", "")
    # The chart has already set the worker environment (GAIA_LAB_CATALOG, ...) from gateway.backend.environment:
    # a cluster's own environment option replaces the configured one, so the handler merges them.
    base_environment = dict(cluster_config.get("environment", {}))
    cores = limits["worker_cores"]
    memory = limits["worker_memory_gib"]
    workers = limits["max_workers"]

    def handler(options: _GaiaLabAny, user: _GaiaLabAny) -> dict[str, _GaiaLabAny]:
        return {
            "worker_cores": options.worker_cores,
            "worker_cores_limit": options.worker_cores,
            "worker_threads": options.worker_cores,
            "worker_memory": int(options.worker_memory * _GAIA_LAB_GIB),
            "worker_memory_limit": int(options.worker_memory * _GAIA_LAB_GIB),
            "cluster_max_workers": options.max_workers,
            "image": _gaia_lab_check_image(options.image, default_image, limits["image_prefixes"]),
            "environment": _gaia_lab_check_environment(
                options.environment, base_environment, limits["max_environment_variables"]
            ),
        }

    options = _GaiaLabOptions(
        _GaiaLabInteger("worker_cores", default=cores["default"], min=1, max=cores["max"], label="Worker cores"),
        _GaiaLabFloat(
            "worker_memory", default=memory["default"], min=0.5, max=memory["max"], label="Worker memory (GiB)"
        ),
        _GaiaLabInteger("max_workers", default=workers["default"], min=1, max=workers["max"], label="Max workers"),
        _GaiaLabString("image", default=default_image, label="Image"),
        _GaiaLabMapping("environment", default={}, label="Environment variables"),
        handler=handler,
    )
    config.Backend.cluster_options = options
    # Hard ceilings that also bind adaptive scaling, whatever the options say.
    config.ClusterConfig.cluster_max_workers = workers["max"]
    config.ClusterConfig.cluster_max_cores = float(limits["cluster_max_cores"])
    config.ClusterConfig.cluster_max_memory = int(limits["cluster_max_memory_gib"] * _GAIA_LAB_GIB)
    config.ClusterConfig.idle_timeout = float(limits["idle_timeout_seconds"])
    # distributed 2026 no longer ships the dask-scheduler / dask-worker scripts that dask-gateway's defaults name.
    config.ClusterConfig.scheduler_cmd = ["dask", "scheduler"]
    config.ClusterConfig.worker_cmd = ["dask", "worker"]
    return options


_gaia_lab_cluster_options(c, globals().get("GAIA_LAB_CLUSTER_LIMITS"))  # noqa: F821 - `c` comes from the gateway
