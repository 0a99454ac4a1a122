"""The platform spec: what every GAIA Lab deployment gives a session and a Dask cluster, whoever runs it.

One definition for `gaia-lab up` and for the Helm chart:

- the session environment (``SESSION_ENVIRONMENT``: catalogue, gateway addresses, gateway auth, dask-labextension);
- the roles and scopes sessions need (``ROLES``: the gateway scope in both the ``user`` and the ``server`` role);
- the Dask cluster options users may choose, their limits and how a request is validated
  (``DEFAULT_CLUSTER_LIMITS``, :func:`check_limits`, :func:`cluster_options`, :func:`configure_gateway`).

`gaia-lab up` imports this module. The chart cannot import gaia_lab (its hub and gateway run upstream images), so
``helm/sync_spec.py`` renders it into the chart: ``files/spec.json`` (environment, roles) is read by the chart's
templates into the hub's settings, and values.yaml's dask-gateway ``extraConfig`` carries this very file, executed
as a module of its own in the gateway, plus the default limits. tests/helm checks both are up to date and that the
chart and the local platform end up with the same environment, scopes and cluster options.

Hence the rules of this file: standard library only at module level (dask_gateway_server is imported inside the
functions that need it), no triple single quotes, errors are plain ``ValueError`` naming the option or limit.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

GATEWAY_SERVICE = "dask-gateway"  # the hub service the gateway authenticates users through
GATEWAY_PREFIX = f"/services/{GATEWAY_SERVICE}"  # where the hub's proxy routes to the gateway
GATEWAY_SCOPE = f"access:services!service={GATEWAY_SERVICE}"

# Every session's environment, so gl.open_catalog() and gl.cluster() work unchanged. Values are templates filled by
# session_environment() (and, in the chart, by the hub settings template) from the deployment's addresses.
SESSION_ENVIRONMENT: dict[str, str] = {
    "GAIA_LAB_CATALOG": "{catalog}",
    "DASK_GATEWAY__ADDRESS": "{gateway_address}",
    "DASK_GATEWAY__PROXY_ADDRESS": "{gateway_proxy_address}",
    # Dashboard links: a path on the hub's own origin, which the browser reaches in every deployment.
    "DASK_GATEWAY__PUBLIC_ADDRESS": "{gateway_public_address}",
    "DASK_GATEWAY__AUTH__TYPE": "jupyterhub",
    # dask-labextension's "New cluster" button asks the gateway too.
    "DASK_LABEXTENSION__FACTORY__MODULE": "dask_gateway",
    "DASK_LABEXTENSION__FACTORY__CLASS": "GatewayCluster",
}
SESSION_PLACEHOLDERS = ("catalog", "gateway_address", "gateway_proxy_address", "gateway_public_address")

# Where clusters run in containers (Kubernetes), workers default to the session's own image so that client and
# workers have the same packages. The doubled braces survive KubeSpawner's own formatting of environment values;
# dask-gateway's client then fills {JUPYTER_IMAGE_SPEC} from the session's environment.
IMAGE_OPTION_ENVIRONMENT: dict[str, str] = {"DASK_GATEWAY__CLUSTER__OPTIONS__IMAGE": "{{JUPYTER_IMAGE_SPEC}}"}

# A notebook talks to the gateway with its *server's* token, the browser and API clients with the user's: both roles
# need the gateway scope, or Gateway(auth="jupyterhub") gets 401. The other scopes are JupyterHub's defaults.
PROCESSES_SERVICE = "gaia-lab-processes"  # OGC API - Processes (gaia_lab.ogc_processes), a hub service too
PROCESSES_SCOPE = f"access:services!service={PROCESSES_SERVICE}"
STAC_SERVICE = "gaia-lab-stac"  # the federation's STAC API (gaia_lab.stac_api), a hub service as well
STAC_SCOPE = f"access:services!service={STAC_SERVICE}"
PORTAL_SERVICE = "gaia-lab-portal"  # the discovery portal (gaia_lab.portal): users log into it through the hub
PORTAL_SCOPE = f"access:services!service={PORTAL_SERVICE}"
ROLES: dict[str, list[str]] = {
    "user": ["self", GATEWAY_SCOPE, PROCESSES_SCOPE, STAC_SCOPE, PORTAL_SCOPE],
    "server": ["users:activity!user", "access:servers!server", GATEWAY_SCOPE, PROCESSES_SCOPE, STAC_SCOPE],
}

GIB = 2**30
MIN_WORKER_MEMORY_GIB = 0.25
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# The limits of cluster options. Deployments override them (the local platform from its settings, the chart from
# GAIA_LAB_CLUSTER_LIMITS in values files); missing keys keep these defaults.
DEFAULT_CLUSTER_LIMITS: dict[str, Any] = {
    "worker_cores": {"default": 1, "max": 2},
    "worker_memory_gib": {"default": 2.0, "max": 8.0},
    "max_workers": {"default": 8, "max": 8},
    "cluster_max_cores": 8,
    "cluster_max_memory_gib": 16,
    "idle_timeout_seconds": 1800,
    # Images users may run workers in besides the gateway's default (container backends only). A prefix ends with
    # ":" (any tag of one image) or "/" (a registry path).
    "image_prefixes": ["ghcr.io/gaia-lab/"],
    "max_environment_variables": 32,
}


def session_environment(
    *, catalog: str, gateway_address: str, gateway_proxy_address: str, gateway_public_address: str
) -> dict[str, str]:
    """The environment of every session for a deployment's catalogue and gateway addresses."""
    values = {
        "catalog": catalog,
        "gateway_address": gateway_address,
        "gateway_proxy_address": gateway_proxy_address,
        "gateway_public_address": gateway_public_address,
    }
    return {name: template.format(**values) for name, template in SESSION_ENVIRONMENT.items()}


def check_limits(overrides: dict[str, Any] | None) -> dict[str, Any]:
    """The cluster limits: DEFAULT_CLUSTER_LIMITS updated with ``overrides``; ValueError naming a bad key."""
    limits = copy.deepcopy(DEFAULT_CLUSTER_LIMITS)
    for key, value in (overrides or {}).items():
        if key not in limits:
            raise ValueError(f"cluster limits: unknown key {key!r}; known: {sorted(limits)}")
        if isinstance(limits[key], dict):
            if not isinstance(value, dict) or set(value) - {"default", "max"}:
                raise ValueError(f"cluster limits[{key!r}]: expected {{'default': ..., 'max': ...}}, got {value!r}")
            limits[key].update(value)
        else:
            limits[key] = copy.deepcopy(value)
    minimum = {"worker_cores": 1, "worker_memory_gib": MIN_WORKER_MEMORY_GIB, "max_workers": 1}
    for key, low in minimum.items():
        default, most = limits[key]["default"], limits[key]["max"]
        if isinstance(default, bool) or isinstance(most, bool) or not low <= default <= most:
            raise ValueError(f"cluster limits[{key!r}]: need {low} <= default <= max, got {limits[key]}")
    for key in ("cluster_max_cores", "cluster_max_memory_gib", "idle_timeout_seconds", "max_environment_variables"):
        if isinstance(limits[key], bool) or not isinstance(limits[key], int | float) or limits[key] < 0:
            raise ValueError(f"cluster limits[{key!r}]: a number >= 0, got {limits[key]!r}")
    prefixes = limits["image_prefixes"]
    if not isinstance(prefixes, list) or not all(isinstance(p, str) and p.endswith((":", "/")) for p in prefixes):
        raise ValueError(f"cluster limits['image_prefixes']: strings ending with ':' or '/', got {prefixes!r}")
    return limits


def check_image(image: str, default_image: str, prefixes: list[str]) -> str:
    if image == default_image or any(image.startswith(prefix) for prefix in prefixes):
        return image
    allowed = [default_image, *(f"{prefix}*" for prefix in prefixes)]
    raise ValueError(f"image {image!r} is not allowed; allowed: {allowed}")


def check_environment(environment: dict[str, Any], base: dict[str, str], max_count: int) -> dict[str, str]:
    """``base`` updated with the user's variables; ValueError naming a bad name or value."""
    if len(environment) > max_count:
        raise ValueError(f"environment: at most {max_count} variables, got {len(environment)}")
    merged = dict(base)
    for name, value in environment.items():
        if not isinstance(name, str) or not ENV_NAME.match(name):
            raise ValueError(f"environment: {name!r} is not a valid variable name")
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ValueError(f"environment: {name} must be a string or a number, got {value!r}")
        merged[name] = str(value)
    return merged


def cluster_options(
    limits: dict[str, Any] | None,
    *,
    default_image: str | None = None,
    base_environment: dict[str, str] | None = None,
) -> Any:
    """dask-gateway ``Options``: worker cores, worker memory (GiB), most workers, environment, and, when clusters run
    in containers (``default_image`` given), the image. Requests outside the limits are refused naming the option."""
    from dask_gateway_server.options import Float, Integer, Mapping, Options, String

    checked = check_limits(limits)
    cores, memory, workers = checked["worker_cores"], checked["worker_memory_gib"], checked["max_workers"]
    base = dict(base_environment or {})
    containers = default_image is not None

    def handler(options: Any, user: Any) -> dict[str, Any]:
        memory_bytes = int(options.worker_memory * GIB)
        overrides: dict[str, Any] = {
            "worker_cores": options.worker_cores,
            "worker_threads": options.worker_cores,
            "worker_memory": memory_bytes,
            "cluster_max_workers": options.max_workers,
            # A cluster's own environment replaces the configured one: merge them.
            "environment": check_environment(options.environment, base, checked["max_environment_variables"]),
        }
        if containers:
            overrides["worker_cores_limit"] = options.worker_cores
            overrides["worker_memory_limit"] = memory_bytes
            overrides["image"] = check_image(options.image, str(default_image), checked["image_prefixes"])
        return overrides

    fields = [
        Integer("worker_cores", default=cores["default"], min=1, max=cores["max"], label="Worker cores"),
        Float(
            "worker_memory",
            default=float(memory["default"]),
            min=MIN_WORKER_MEMORY_GIB,
            max=float(memory["max"]),
            label="Worker memory (GiB)",
        ),
        Integer("max_workers", default=workers["default"], min=1, max=workers["max"], label="Max workers"),
    ]
    if containers:
        fields.append(String("image", default=default_image, label="Image"))
    fields.append(Mapping("environment", default={}, label="Environment variables"))
    return Options(*fields, handler=handler)


def configure_gateway(c: Any, limits: dict[str, Any] | None, *, containers: bool) -> Any:
    """Set the cluster options and the hard ceilings (which bind adaptive scaling too) on a dask-gateway config
    object ``c``; returns the Options. ``containers``: the Kubernetes backend (image option, resource limits)."""
    checked = check_limits(limits)
    if containers:
        cluster_config = c.KubeClusterConfig
        default_image: str | None = str(cluster_config.get("image", ""))
    else:
        cluster_config = c.ClusterConfig
        default_image = None
    base_environment = dict(cluster_config.get("environment", {}))
    options = cluster_options(checked, default_image=default_image, base_environment=base_environment)
    c.Backend.cluster_options = options
    c.ClusterConfig.cluster_max_workers = checked["max_workers"]["max"]
    c.ClusterConfig.cluster_max_cores = float(checked["cluster_max_cores"])
    c.ClusterConfig.cluster_max_memory = int(checked["cluster_max_memory_gib"] * GIB)
    c.ClusterConfig.idle_timeout = float(checked["idle_timeout_seconds"])
    return options


def chart_spec() -> dict[str, Any]:
    """What the chart's templates read (files/spec.json): names, environment templates, roles."""
    return {
        "gatewayService": GATEWAY_SERVICE,
        "gatewayPrefix": GATEWAY_PREFIX,
        "sessionEnvironment": dict(SESSION_ENVIRONMENT),
        "sessionPlaceholders": list(SESSION_PLACEHOLDERS),
        "imageOptionEnvironment": dict(IMAGE_OPTION_ENVIRONMENT),
        "roles": {name: list(scopes) for name, scopes in ROLES.items()},
    }


def chart_spec_json() -> str:
    return json.dumps(chart_spec(), indent=2, sort_keys=True) + "\n"
