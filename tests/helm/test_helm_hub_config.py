"""files/hub/gaia_lab_hub.py executed against the hub config zero-to-jupyterhub builds from our values, then the
real JupyterHub, authenticator and KubeSpawner objects built from that config: roles, services, pod and PVC
manifests for every profile, validated against the Kubernetes schemas."""

from __future__ import annotations

import asyncio
from pathlib import Path

import kubernetes_validate
import pytest
from helmtools import (
    HUB_FILE,
    KUBE_VERSION,
    VALUE_SETS,
    exec_file,
    load_values,
    session_manifests,
)

GATEWAY_SCOPE = "access:services!service=dask-gateway"
PROCESSES_SCOPE = "access:services!service=gaia-lab-processes"
STAC_SCOPE = "access:services!service=gaia-lab-stac"
PORTAL_SCOPE = "access:services!service=gaia-lab-portal"


def test_sessions_get_catalogue_and_gateway_environment(hub_config, value_set: str) -> None:
    c = hub_config(value_set)
    env = c.KubeSpawner.environment
    assert env["GAIA_LAB_CATALOG"] == "/etc/gaia-lab/catalog.yaml"
    assert env["DASK_GATEWAY__ADDRESS"] == "http://traefik-gaia-lab-dask-gateway.gaia-lab:80/services/dask-gateway"
    assert env["DASK_GATEWAY__PROXY_ADDRESS"] == "gateway://traefik-gaia-lab-dask-gateway.gaia-lab:80"
    assert env["DASK_GATEWAY__PUBLIC_ADDRESS"] == "/services/dask-gateway/"
    assert env["DASK_GATEWAY__AUTH__TYPE"] == "jupyterhub"
    assert env["DASK_GATEWAY__CLUSTER__OPTIONS__IMAGE"] == "{{JUPYTER_IMAGE_SPEC}}"
    mounts = {m["name"]: m for m in c.KubeSpawner.volume_mounts}
    assert mounts["gaia-lab-catalog"] == {"name": "gaia-lab-catalog", "mountPath": "/etc/gaia-lab", "readOnly": True}
    assert ("gaia-lab-course-data" in mounts) == (value_set == "workshop")


def test_gateway_service_and_scopes_in_user_and_server_roles(hub_config, value_set: str) -> None:
    from jupyterhub.app import JupyterHub
    from jupyterhub.scopes import _check_scopes_exist

    c = hub_config(value_set)
    app = JupyterHub(config=c)
    (service,) = [s for s in app.services if s["name"] == "dask-gateway"]
    assert service["url"] == "http://traefik-gaia-lab-dask-gateway.gaia-lab:80"
    assert service["display"] is False
    roles = {r["name"]: r for r in app.load_roles}
    for name in ("user", "server"):
        assert GATEWAY_SCOPE in roles[name]["scopes"], name
        _check_scopes_exist(roles[name]["scopes"])
    # JupyterHub's own defaults for the server role must survive the override.
    assert {"users:activity!user", "access:servers!server"} <= set(roles["server"]["scopes"])
    assert app.authenticator_class is not None


def test_operator_settings_win_and_snippet_is_idempotent(hub_config) -> None:
    values = load_values("default")
    values["jupyterhub"]["singleuser"]["extraEnv"] = {"GAIA_LAB_CATALOG": "s3://bucket/catalog.yaml"}
    values["jupyterhub"]["hub"]["loadRoles"] = {"user": {"scopes": ["self"]}}
    c = hub_config("default", values)
    exec_file(HUB_FILE, {"c": c})  # a second load changes nothing
    assert c.KubeSpawner.environment["GAIA_LAB_CATALOG"] == "s3://bucket/catalog.yaml"
    assert [v["name"] for v in c.KubeSpawner.volumes].count("gaia-lab-catalog") == 1
    roles = {r["name"]: r["scopes"] for r in c.JupyterHub.load_roles}
    assert roles["user"] == ["self", GATEWAY_SCOPE, PROCESSES_SCOPE, STAC_SCOPE, PORTAL_SCOPE]
    assert roles["server"] == [
        "users:activity!user",
        "access:servers!server",
        GATEWAY_SCOPE,
        PROCESSES_SCOPE,
        STAC_SCOPE,
    ]


def test_missing_gateway_service_is_named(hub_config) -> None:
    values = load_values("default")
    values["jupyterhub"]["hub"]["services"] = {}
    with pytest.raises(ValueError, match=r"jupyterhub\.hub\.services\.dask-gateway"):
        hub_config("default", values)


def test_workshop_and_default_use_shared_password(hub_config) -> None:
    from jupyterhub.authenticators.shared import SharedPasswordAuthenticator

    for name in ("default", "workshop"):
        c = hub_config(name)
        assert c.JupyterHub.authenticator_class == "shared-password"
        c.SharedPasswordAuthenticator.user_password = "workshop-2026"
        c.SharedPasswordAuthenticator.admin_password = "a" * 32
        auth = SharedPasswordAuthenticator(config=c)
        assert auth.allow_all is True
        assert auth.admin_users == {"admin"}


def test_production_uses_keycloak_oidc_with_groups(hub_config) -> None:
    from oauthenticator.generic import GenericOAuthenticator

    c = hub_config("production")
    assert c.JupyterHub.authenticator_class == "generic-oauth"
    c.GenericOAuthenticator.client_secret = "from-helm-set"
    auth = GenericOAuthenticator(config=c)
    assert auth.allow_all is False
    assert auth.allowed_groups == {"gaia-lab-users"}
    assert auth.admin_groups == {"gaia-lab-admins"}
    assert auth.manage_groups is True
    assert auth.auth_state_groups_key == "oauth_user.groups"
    assert auth.username_claim == "preferred_username"
    assert auth.authorize_url.endswith("/realms/data-terra/protocol/openid-connect/auth")
    assert auth.oauth_callback_url == "https://gaia-lab.example.org/hub/oauth_callback"

    # the groups claim of a userinfo answer decides who gets in
    # What the authenticator does with a Keycloak userinfo answer, after the token exchange.
    async def decide(groups: list[str]) -> tuple[bool, bool]:
        auth_state = {"oauth_user": {"preferred_username": "marie", "groups": groups}}
        model = await auth.update_auth_model({"name": "marie", "admin": None, "auth_state": auth_state})
        # OAuthenticator.authenticate() does this step (groups from auth_state, admin from admin_groups) next.
        model = await auth._apply_managed_groups(model)
        return bool(model["admin"]), await auth.check_allowed("marie", model)

    assert asyncio.run(decide(["gaia-lab-users"])) == (False, True)
    assert asyncio.run(decide(["gaia-lab-admins"])) == (True, True)
    assert asyncio.run(decide(["other"])) == (False, False)


def _profiles(value_set: str) -> list[str | None]:
    profiles = load_values(value_set)["jupyterhub"]["singleuser"]["profileList"]
    return [p["slug"] for p in profiles] or [None]


def _cases() -> list[tuple[str, str | None]]:
    return [(name, slug) for name in sorted(VALUE_SETS) for slug in _profiles(name)]


@pytest.mark.parametrize(("value_set_name", "profile"), _cases())
def test_kubespawner_pod_and_pvc_for_each_profile(
    hub_config, kubeconfig: Path, value_set_name: str, profile: str | None
) -> None:
    c = hub_config(value_set_name)
    pod, pvc = session_manifests(c, profile)
    kubernetes_validate.validate(pod, KUBE_VERSION, strict=True)
    kubernetes_validate.validate(pvc, KUBE_VERSION, strict=True)

    (container,) = pod["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["GAIA_LAB_CATALOG"] == "/etc/gaia-lab/catalog.yaml"
    assert env["JUPYTER_IMAGE_SPEC"] == container["image"]
    # what dask-gateway's client then formats with the environment: the session's own image
    assert env["DASK_GATEWAY__CLUSTER__OPTIONS__IMAGE"].format(**env) == container["image"]
    assert env["DASK_GATEWAY__AUTH__TYPE"] == "jupyterhub"
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/etc/gaia-lab"]["readOnly"] is True
    assert "/home/jovyan" in mounts
    # non-root, no privilege escalation
    assert pod["spec"]["securityContext"]["fsGroup"] == 100
    assert container["securityContext"]["runAsUser"] == 1000
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    limits = container["resources"]["limits"]
    requests = container["resources"]["requests"]
    assert limits["cpu"]
    assert limits["memory"]
    assert requests["cpu"]
    assert requests["memory"]
    if value_set_name == "workshop":
        assert mounts["/home/jovyan/course-data"]["readOnly"] is True
        assert container["image"] == "ghcr.io/gaia-lab/gaia-lab-workshop:0.1.0"
    if profile == "workshop":
        assert container["image"] == "ghcr.io/gaia-lab/gaia-lab-workshop:0.1.0"
    if profile == "gpu":
        assert limits["nvidia.com/gpu"] == "1"
        assert pod["spec"]["nodeSelector"] == {"gaia-lab.io/node-pool": "gpu"}
    if profile == "power-user":
        assert float(str(limits["cpu"])) >= 8
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
