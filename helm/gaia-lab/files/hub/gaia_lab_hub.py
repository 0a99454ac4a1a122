"""GAIA Lab additions to the zero-to-jupyterhub hub configuration.

The chart mounts this file into /usr/local/etc/jupyterhub/jupyterhub_config.d/, which the upstream hub image
executes after it has applied the chart's values and before ``hub.extraConfig``, in the same namespace: ``c`` is
the JupyterHub config object. Everything deployment-specific comes from the JSON settings file that the chart
renders from ``.Values.gaiaLab`` next to it, so this code holds no names or addresses of its own.

What it does:
- sessions get the federation catalogue (ConfigMap, read-only) and ``GAIA_LAB_CATALOG`` pointing at it;
- sessions get the ``DASK_GATEWAY__*`` variables so ``gl.cluster()`` and ``dask_gateway.Gateway()`` work unchanged,
  and ask for workers running the session's own image (``{JUPYTER_IMAGE_SPEC}``) so versions match;
- optional shared course data is mounted read-only;
- the dask-gateway hub service gets its in-cluster URL;
- the ``user`` and ``server`` roles carry ``access:services!service=dask-gateway``: a notebook authenticates to the
  gateway with its server's token, so both roles need it or ``Gateway(auth="jupyterhub")`` gets 401.
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


def _gaia_lab_ensure_scope(roles: list[dict[str, Any]], name: str, scope: str, default_scopes: list[str]) -> None:
    """Give role ``name`` the ``scope``, creating the role with JupyterHub's default scopes if it is not listed."""
    for role in roles:
        if role.get("name") == name:
            scopes = role.setdefault("scopes", list(default_scopes))
            if scope not in scopes:
                scopes.append(scope)
            return
    roles.append({"name": name, "scopes": [*default_scopes, scope]})


def _gaia_lab_configure(c: Any, settings: dict[str, Any]) -> None:
    spawner = c.KubeSpawner
    gateway = settings["gateway"]
    catalog = settings["catalog"]
    course = settings.get("courseData") or {}

    # Operators' own singleuser.extraEnv wins: only fill what they did not set.
    environment = dict(_gaia_lab_value(spawner, "environment", {}))
    defaults = {
        "GAIA_LAB_CATALOG": catalog["mountPath"].rstrip("/") + "/" + catalog["fileName"],
        "DASK_GATEWAY__ADDRESS": gateway["address"],
        "DASK_GATEWAY__PROXY_ADDRESS": gateway["proxyAddress"],
        "DASK_GATEWAY__PUBLIC_ADDRESS": gateway["publicAddress"],
        "DASK_GATEWAY__AUTH__TYPE": "jupyterhub",
    }
    if gateway.get("workerImageFromSession", True):
        # dask-gateway's client formats option defaults with the environment; KubeSpawner sets
        # JUPYTER_IMAGE_SPEC to the image the session runs, so workers get the very same packages. The braces are
        # doubled because KubeSpawner itself formats environment values ({username}, ...) first.
        defaults["DASK_GATEWAY__CLUSTER__OPTIONS__IMAGE"] = "{{JUPYTER_IMAGE_SPEC}}"
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

    scope = f"access:services!service={service_name}"
    roles = list(_gaia_lab_value(c.JupyterHub, "load_roles", []))
    _gaia_lab_ensure_scope(roles, "user", scope, ["self"])
    _gaia_lab_ensure_scope(roles, "server", scope, ["users:activity!user", "access:servers!server"])
    c.JupyterHub.load_roles = roles


_gaia_lab_configure(c, _gaia_lab_load_settings())  # noqa: F821 - `c` is provided by the hub's config loader
