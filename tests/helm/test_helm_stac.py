"""The chart's STAC API component (gaia-lab-stac): rendered by real helm, its settings load as the server loads them,
the hub knows the service, sessions know where it is, the values schema refuses bad settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from helmtools import hub_settings, load_values, run_helm

from gaia_lab.stac_api.server import ServiceSettings


def _manifests(docs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(m["kind"], m["metadata"]["name"]): m for m in docs}


def test_stac_service_settings_and_hub_registration(rendered: dict[str, list[dict[str, Any]]]) -> None:
    manifests = _manifests(rendered["default"])
    settings = ServiceSettings(**json.loads(manifests[("ConfigMap", "gaia-lab-stac")]["data"]["settings.json"]))
    assert settings.prefix == "/services/gaia-lab-stac/" and settings.port == 8018
    assert settings.catalog_source == "/etc/gaia-lab/catalog.yaml"
    pod = manifests[("Deployment", "gaia-lab-stac")]["spec"]["template"]["spec"]
    (token,) = [v for v in pod["volumes"] if v["name"] == "token"]
    assert token["secret"]["items"] == [{"key": "hub.services.gaia-lab-stac.apiToken", "path": "token"}]
    (catalog,) = [v for v in pod["volumes"] if v["name"] == "catalog"]
    assert catalog["configMap"]["name"] == "gaia-lab-catalog"
    environment = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert environment["GAIA_LAB_STAC_TOKEN_FILE"] == "/etc/gaia-lab-stac-token/token"
    assert ("Service", "gaia-lab-stac") in manifests and ("NetworkPolicy", "gaia-lab-stac") in manifests
    hub = load_values("default")["jupyterhub"]["hub"]
    assert hub["services"]["gaia-lab-stac"]["url"] == "http://gaia-lab-stac:8018"
    # every session may use it, and knows where it is
    settings_of_hub = hub_settings(rendered["default"])
    assert "access:services!service=gaia-lab-stac" in settings_of_hub["roles"]["user"]
    assert "access:services!service=gaia-lab-stac" in settings_of_hub["roles"]["server"]
    assert settings_of_hub["extraEnv"]["GAIA_LAB_STAC_URL"] == "http://proxy-public/services/gaia-lab-stac/"


def test_the_proxy_may_reach_the_stac_service() -> None:
    egress = load_values("default")["jupyterhub"]["proxy"]["chp"]["networkPolicy"]["egress"]
    assert any(
        rule["to"][0]["podSelector"]["matchLabels"].get("app.kubernetes.io/component") == "stac"
        and rule["ports"][0]["port"] == 8018
        for rule in egress
    )


def test_stac_can_be_switched_off(chart_copy: Path) -> None:
    proc = run_helm("template", "x", chart_copy, "--set", "gaiaLab.stac.enabled=false")
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    assert not [d for d in docs if d["metadata"]["name"] == "gaia-lab-stac"]
    assert "GAIA_LAB_STAC_URL" not in hub_settings(docs)["extraEnv"]


def test_operators_extra_env_wins_and_asset_proxies_reach_the_settings(chart_copy: Path) -> None:
    proc = run_helm(
        "template",
        "x",
        chart_copy,
        "--set",
        "gaiaLab.extraEnv.GAIA_LAB_STAC_URL=https://lab.example.org/services/gaia-lab-stac/",
        "--set",
        "gaiaLab.stac.assetProxies.lake=http://lake.data.svc:8005/",
    )
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    assert hub_settings(docs)["extraEnv"]["GAIA_LAB_STAC_URL"] == "https://lab.example.org/services/gaia-lab-stac/"
    settings = json.loads(_manifests(docs)[("ConfigMap", "gaia-lab-stac")]["data"]["settings.json"])
    assert settings["asset_proxies"] == {"lake": "http://lake.data.svc:8005/"}


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("gaiaLab.stac.enabled=maybe", "enabled"),
        ("gaiaLab.stac.sessionUrl=proxy-public", "sessionUrl"),
        ("gaiaLab.stac.assetProxies.lake=ftp://x/", "assetProxies"),
        ("gaiaLab.stac.unknown=1", "unknown"),
    ],
)
def test_bad_stac_values_are_refused(chart_copy: Path, setting: str, message: str) -> None:
    proc = run_helm("template", "x", chart_copy, "--set", setting, check=False)
    assert proc.returncode != 0, proc.stdout
    assert message in proc.stderr, proc.stderr
