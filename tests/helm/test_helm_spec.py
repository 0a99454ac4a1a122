"""One platform spec: the chart carries the current gaia_lab/platform/spec.py, and the chart and `gaia-lab up` end
up with the same session environment, roles and scopes, and cluster options with the same limits.

Each side is built as it runs: the local platform's generated jupyterhub_config.py and dask_gateway_config.py
executed; the chart rendered by real helm, its hub settings fed to files/hub/gaia_lab_hub.py over the config
zero-to-jupyterhub builds, its gateway extraConfig executed over the config the dask-gateway chart builds.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import subprocess
import sys
from typing import Any

import pytest
from helmtools import CHART, ROOT, SPEC_JSON, gateway_config, hub_settings, load_values

from gaia_lab.platform import gateway_config as local_gateway
from gaia_lab.platform import hub_config as local_hub
from gaia_lab.platform import load_config, spec
from gaia_lab.platform.layout import Layout, Ports

PORTS = Ports(18000, 18081, 18001, 18002, 18003, 18004, 18005, 18006, 18007, 18010)
# What only one side has, and why: the local platform serves its lake itself and marks its processes (so `down`
# finds them); in Kubernetes workers default to the session's own image, an option the local backend has not.
# The lake server and its OPeNDAP server run only on the local platform; the chart reads the lake from its object store.
LOCAL_ONLY = {"GAIA_LAB_LAKE_URL", "GAIA_LAB_OPENDAP_URL", "GAIA_LAB_PROCESSES_URL", "GAIA_LAB_PLATFORM_ID", "PATH"}
# Both set it, each its own way: the chart from gaiaLab.stac.sessionUrl (an extraEnv default), the platform from ports.
STAC_URL = "GAIA_LAB_STAC_URL"
CHART_ONLY = set(spec.IMAGE_OPTION_ENVIRONMENT)


def _sync_module() -> Any:
    loaded = importlib.util.spec_from_file_location("sync_spec", ROOT / "helm" / "sync_spec.py")
    assert loaded is not None
    assert loaded.loader is not None
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    return module


def _exec(text: str, env: dict[str, str]) -> Any:
    from traitlets.config import Config

    config = Config()
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        exec(compile(text, "generated_config.py", "exec"), {"get_config": lambda: config})
    return config


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The local platform's hub and gateway configs, with every limit at its default."""
    config = load_config(None, data_dir=str(tmp_path_factory.mktemp("local")), user_accounts="shared")
    layout = Layout.from_config(config)
    hub = _exec(
        local_hub.render(config, layout, PORTS, "/venv/bin/python"), dict.fromkeys(local_hub.SECRET_ENV, "x" * 40)
    )
    gateway = _exec(local_gateway.render(config, layout, PORTS, "/venv/bin/python"), {})
    return {"config": config, "layout": layout, "hub": hub, "gateway": gateway}


def test_the_chart_carries_the_current_spec() -> None:
    sync = _sync_module()
    assert SPEC_JSON.read_text() == spec.chart_spec_json(), "run: python helm/sync_spec.py"
    values_text = (CHART / "values.yaml").read_text()
    assert sync.rendered_values(values_text) == values_text, "run: python helm/sync_spec.py"
    block = load_values("default")["dask-gateway"]["gateway"]["extraConfig"]["50-gaia-lab-options"]
    namespace: dict[str, Any] = {}
    exec(block.split("\n\ndef _gaia_lab_spec", 1)[0], namespace)  # the carried source, as the gateway reads it
    assert namespace["_GAIA_LAB_SPEC_SOURCE"] == (ROOT / "gaia_lab" / "platform" / "spec.py").read_text()
    proc = subprocess.run(
        [sys.executable, str(ROOT / "helm" / "sync_spec.py"), "--check"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout


def test_the_default_limits_are_the_spec_s(local: dict[str, Any]) -> None:
    namespace: dict[str, Any] = {}
    exec(load_values("default")["dask-gateway"]["gateway"]["extraConfig"]["00-gaia-lab-limits"], namespace)
    assert namespace["GAIA_LAB_CLUSTER_LIMITS"] == spec.DEFAULT_CLUSTER_LIMITS
    local_limits = spec.check_limits(local["config"].cluster_limits())
    # The local platform has no images to choose from; everything else is the spec's default.
    assert {k: v for k, v in local_limits.items() if k != "image_prefixes"} == {
        k: v for k, v in spec.DEFAULT_CLUSTER_LIMITS.items() if k != "image_prefixes"
    }


def test_session_environment_agrees(local: dict[str, Any], hub_config, rendered) -> None:
    local_env = local["hub"].Spawner.environment
    chart_env = hub_config("default").KubeSpawner.environment
    settings = hub_settings(rendered["default"])
    assert set(local_env) - set(spec.SESSION_ENVIRONMENT) - {STAC_URL} == LOCAL_ONLY
    assert set(chart_env) - set(spec.SESSION_ENVIRONMENT) - {STAC_URL} == CHART_ONLY
    assert STAC_URL in local_env and STAC_URL in chart_env
    ip, layout = local["config"].ip, local["layout"]
    local_values = {
        "catalog": str(layout.catalog_file),
        "gateway_address": f"http://{ip}:{PORTS.port}/services/dask-gateway",
        "gateway_proxy_address": f"gateway://{ip}:{PORTS.gateway_tcp_port}",
        "gateway_public_address": "/services/dask-gateway/",
    }
    catalog = settings["catalog"]
    chart_values = {
        "catalog": f"{catalog['mountPath']}/{catalog['fileName']}",
        "gateway_address": settings["gateway"]["address"],
        "gateway_proxy_address": settings["gateway"]["proxyAddress"],
        "gateway_public_address": settings["gateway"]["publicAddress"],
    }
    assert set(local_values) == set(chart_values) == set(spec.SESSION_PLACEHOLDERS)
    for name, template in spec.SESSION_ENVIRONMENT.items():
        assert local_env[name] == template.format(**local_values), name
        assert chart_env[name] == template.format(**chart_values), name
        if "{" not in template:  # constants: the very same value in both
            assert local_env[name] == chart_env[name] == template, name
    assert chart_env["DASK_GATEWAY__PUBLIC_ADDRESS"] == local_env["DASK_GATEWAY__PUBLIC_ADDRESS"]
    # The subchart values the spec cannot template name the same gateway.
    values = load_values("default")
    assert values["dask-gateway"]["gateway"]["prefix"] == spec.GATEWAY_PREFIX
    assert spec.GATEWAY_SERVICE in values["jupyterhub"]["hub"]["services"]


def test_roles_and_scopes_agree(local: dict[str, Any], hub_config) -> None:
    from jupyterhub.scopes import _check_scopes_exist

    local_roles = {role["name"]: role["scopes"] for role in local["hub"].JupyterHub.load_roles}
    chart_roles = {role["name"]: role["scopes"] for role in hub_config("default").JupyterHub.load_roles}
    for name, scopes in spec.ROLES.items():
        assert local_roles[name] == chart_roles[name] == scopes, name
        _check_scopes_exist(scopes)
    assert spec.GATEWAY_SCOPE in spec.ROLES["user"]
    assert spec.GATEWAY_SCOPE in spec.ROLES["server"]


def _options_spec(options: Any) -> dict[str, Any]:
    return {field["field"]: field for field in options.get_specification()}


def test_cluster_options_and_ceilings_agree(local: dict[str, Any]) -> None:
    local_c = local["gateway"]
    chart_c = gateway_config(load_values("default"))
    local_fields = _options_spec(local_c.Backend.cluster_options)
    chart_fields = _options_spec(chart_c.Backend.cluster_options)
    assert set(chart_fields) - set(local_fields) == {"image"}  # containers only
    for name, field in local_fields.items():
        assert chart_fields[name] == field, name
    assert local_fields["worker_memory"]["spec"]["min"] == spec.MIN_WORKER_MEMORY_GIB
    for trait in ("cluster_max_workers", "cluster_max_cores", "cluster_max_memory", "idle_timeout"):
        assert local_c.ClusterConfig[trait] == chart_c.ClusterConfig[trait], trait


REQUESTS = [
    {},
    {"worker_cores": 2, "worker_memory": 8.0, "max_workers": 8},
    {"worker_memory": spec.MIN_WORKER_MEMORY_GIB},
    {"worker_memory": 0.2},
    {"worker_cores": 3},
    {"max_workers": 9},
    {"environment": {"OMP_NUM_THREADS": 2, "MY_SETTING": "x"}},
    {"environment": {"BAD NAME": "x"}},
    {"environment": {"FLAG": True}},
    {"environment": {f"V{i}": "x" for i in range(33)}},
    {"gpus": 1},
]


@pytest.mark.parametrize("request_", REQUESTS, ids=lambda r: json.dumps(r)[:60])
def test_both_gateways_decide_a_request_alike(local: dict[str, Any], request_: dict[str, Any]) -> None:
    """The same request is accepted with the same worker settings, or refused with the same message."""
    from dask_gateway_server.backends.base import PublicException
    from dask_gateway_server.backends.kubernetes import KubeBackend
    from dask_gateway_server.backends.local import UnsafeLocalBackend
    from dask_gateway_server.models import User

    def decide(backend: Any) -> tuple[str, Any]:
        user = User(name="ana", groups=[], admin=False)
        try:
            _options, config = asyncio.run(backend.process_cluster_options(user, request_))
        except PublicException as exc:
            return "refused", str(exc)
        keys = ("worker_cores", "worker_threads", "worker_memory", "cluster_max_workers")
        settings = {key: getattr(config, key) for key in keys}
        settings["environment"] = {k: v for k, v in config.environment.items() if k in request_.get("environment", {})}
        return "accepted", settings

    local_decision = decide(UnsafeLocalBackend(config=local["gateway"]))
    chart_decision = decide(KubeBackend(config=gateway_config(load_values("default"))))
    assert local_decision == chart_decision


def test_spec_json_is_what_the_hub_settings_render(rendered) -> None:
    settings = hub_settings(rendered["default"])
    chart_spec = json.loads(SPEC_JSON.read_text())
    assert settings["roles"] == chart_spec["roles"] == spec.ROLES
    assert settings["gateway"]["serviceName"] == spec.GATEWAY_SERVICE
    assert set(settings["sessionEnvironment"]) == set(spec.SESSION_ENVIRONMENT) | set(spec.IMAGE_OPTION_ENVIRONMENT)
