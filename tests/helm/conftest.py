"""Fixtures of the chart tests: a renderable copy of the chart (placeholder subcharts) and its rendered manifests."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import helmtools


@pytest.fixture(scope="session")
def chart_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    helmtools.helm_binary()  # fail early, with the install hint
    return helmtools.make_renderable_copy(tmp_path_factory.mktemp("chart"))


@pytest.fixture(scope="session")
def rendered(chart_copy: Path) -> dict[str, list[dict[str, Any]]]:
    return {name: helmtools.render(chart_copy, name) for name in helmtools.VALUE_SETS}


@pytest.fixture(params=sorted(helmtools.VALUE_SETS))
def value_set(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def hub_config(rendered: dict[str, list[dict[str, Any]]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Build (value_set name) -> the hub's Config after jupyterhub_config.d/gaia_lab_hub.py ran."""

    def build(name: str, values: dict[str, Any] | None = None) -> Any:
        settings_file = tmp_path / f"settings-{name}.json"
        settings_file.write_text(json.dumps(helmtools.hub_settings(rendered[name])))
        monkeypatch.setenv("GAIA_LAB_HUB_SETTINGS", str(settings_file))
        monkeypatch.setenv("GAIA_LAB_USAGE_DB", str(tmp_path / "usage.sqlite"))
        c = helmtools.z2jh_hub_config(values or helmtools.load_values(name))
        helmtools.exec_file(helmtools.HUB_FILE, {"c": c})
        return c

    return build


@pytest.fixture
def kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(helmtools.OFFLINE_KUBECONFIG)
    monkeypatch.setenv("KUBECONFIG", str(path))
    # kubernetes_asyncio reads $KUBECONFIG once, when first imported.
    from kubernetes_asyncio.config import kube_config

    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(path))
    return path
