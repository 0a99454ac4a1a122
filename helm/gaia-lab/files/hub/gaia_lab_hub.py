"""GAIA Lab additions to the zero-to-jupyterhub hub configuration.

The chart mounts this file into /usr/local/etc/jupyterhub/jupyterhub_config.d/, which the upstream hub image
executes after it has applied the chart's values and before ``hub.extraConfig``, in the same namespace: ``c`` is
the JupyterHub config object. Everything deployment-specific comes from the JSON settings file that the chart
renders from ``.Values.gaiaLab`` and from the platform spec (files/spec.json, generated from
gaia_lab/platform/spec.py, which `gaia-lab up` uses too) next to it, so this code holds no names, addresses,
variables or scopes of its own.

What it does:
- sessions get the spec's environment (``sessionEnvironment``: ``GAIA_LAB_CATALOG``, the ``DASK_GATEWAY__*``
  variables so ``gl.cluster()`` and ``dask_gateway.Gateway()`` work unchanged, workers in the session's own image)
  and the federation catalogue (ConfigMap, read-only) that ``GAIA_LAB_CATALOG`` names;
- optional shared course data is mounted read-only;
- the dask-gateway hub service gets its in-cluster URL;
- the roles get the spec's scopes (``roles``: the gateway scope in both ``user`` and ``server``);
- when the hub image has gaia_lab, usage accounting records every user server (``usage``, gaia_lab.platform.usage_hub;
  ``$GAIA_LAB_USAGE_DB`` overrides the database path).
"""

import json
import os
from typing import Any

_GAIA_LAB_DEFAULT_SETTINGS = "/usr/local/etc/jupyterhub/gaia-lab/settings.json"


def _gaia_lab_load_settings() -> dict[str, Any]:
    path = os.environ.get("GAIA_LAB_HUB_SETTINGS", _GAIA_LAB_DEFAULT_SETTINGS)
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _gaia_lab_value(section: Any, name: str, default: Any) -> Any:
    """The current value of a trait in a config section, or ``default`` when unset.

    A trait set by ``c.X.y.append(...)`` before it was assigned is a LazyConfigValue; resolve it against the
    default so that earlier additions are kept.
    """
    from traitlets.config.loader import LazyConfigValue

    if name not in section:
        return default
    value = section[name]
    if isinstance(value, LazyConfigValue):
        return value.get_value(default)
    return value


def _gaia_lab_ensure_scopes(roles: list[dict[str, Any]], name: str, scopes: list[str]) -> None:
    """Give role ``name`` the ``scopes`` (keeping the ones it has), creating it if it is not listed."""
    for role in roles:
        if role.get("name") == name:
            have = role.setdefault("scopes", [])
            have += [scope for scope in scopes if scope not in have]
            return
    roles.append({"name": name, "scopes": list(scopes)})


def _gaia_lab_configure(c: Any, settings: dict[str, Any]) -> None:
    spawner = c.KubeSpawner
    gateway = settings["gateway"]
    catalog = settings["catalog"]
    course = settings.get("courseData") or {}

    # Operators' own singleuser.extraEnv wins: only fill what they did not set.
    environment = dict(_gaia_lab_value(spawner, "environment", {}))
    defaults = dict(settings["sessionEnvironment"])
    defaults.update(settings.get("extraEnv") or {})
    for key, value in defaults.items():
        environment.setdefault(key, value)
    spawner.environment = environment

    volumes = list(_gaia_lab_value(spawner, "volumes", []))
    mounts = list(_gaia_lab_value(spawner, "volume_mounts", []))
    wanted_volumes = [{"name": "gaia-lab-catalog", "configMap": {"name": catalog["configMap"]}}]
    wanted_mounts = [{"name": "gaia-lab-catalog", "mountPath": catalog["mountPath"], "readOnly": True}]
    if course.get("enabled"):
        wanted_volumes.append(
            {
                "name": "gaia-lab-course-data",
                "persistentVolumeClaim": {"claimName": course["claimName"], "readOnly": True},
            }
        )
        mount = {"name": "gaia-lab-course-data", "mountPath": course["mountPath"], "readOnly": True}
        if course.get("subPath"):
            mount["subPath"] = course["subPath"]
        wanted_mounts.append(mount)
    # Idempotent: a hub restart re-executes this file against a fresh config, but tests and operators may
    # load it twice; never add the same volume name twice (the pod would be rejected).
    known_volumes = {v.get("name") for v in volumes}
    volumes += [v for v in wanted_volumes if v["name"] not in known_volumes]
    known_mounts = {(m.get("name"), m.get("mountPath")) for m in mounts}
    mounts += [m for m in wanted_mounts if (m["name"], m["mountPath"]) not in known_mounts]
    spawner.volumes = volumes
    spawner.volume_mounts = mounts

    services = list(_gaia_lab_value(c.JupyterHub, "services", []))
    service_name = gateway["serviceName"]
    for service in services:
        if service.get("name") == service_name:
            if not service.get("url"):
                service["url"] = gateway["serviceUrl"]
            service.setdefault("display", False)
            break
    else:
        raise ValueError(
            f"JupyterHub service {service_name!r} is missing: keep jupyterhub.hub.services.{service_name} in the "
            "chart values (dask-gateway authenticates users through it)"
        )
    c.JupyterHub.services = services

    roles = list(_gaia_lab_value(c.JupyterHub, "load_roles", []))
    for name, scopes in settings["roles"].items():
        _gaia_lab_ensure_scopes(roles, name, scopes)
    c.JupyterHub.load_roles = roles


def _gaia_lab_usage(c: Any, settings: dict[str, Any]) -> None:
    """Install gaia_lab's usage hooks, importing only gaia_lab.platform.usage_hub (standard library and JupyterHub):
    stand-ins for its parent packages keep gaia_lab/__init__.py, which imports the scientific stack, out of the hub."""
    import importlib.util
    import logging
    import sys
    import types

    usage = settings.get("usage") or {}
    if not usage.get("enabled"):
        return
    log = logging.getLogger("gaia_lab.usage")
    found = importlib.util.find_spec("gaia_lab") if "gaia_lab" not in sys.modules else sys.modules["gaia_lab"].__spec__
    if found is None or not found.submodule_search_locations:
        log.warning("usage accounting is off: the hub image has no gaia_lab (pip install gaia-lab --no-deps)")
        return
    package = list(found.submodule_search_locations)[0]
    for name, path in (("gaia_lab", package), ("gaia_lab.platform", os.path.join(package, "platform"))):
        if name not in sys.modules:
            sys.modules[name] = types.ModuleType(name)
            sys.modules[name].__path__ = [path]
    from gaia_lab.platform import usage_hub

    usage_hub.install(c, os.environ.get("GAIA_LAB_USAGE_DB") or usage["database"])


_gaia_lab_settings = _gaia_lab_load_settings()
_gaia_lab_configure(c, _gaia_lab_settings)  # noqa: F821 - `c` is provided by the hub's config loader
_gaia_lab_usage(c, _gaia_lab_settings)  # noqa: F821
