"""The chart's optional Prometheus scrape config (gaiaLab.metrics): absent by default, valid for promtool (Debian's
prometheus package) when enabled, scraping the hub's /hub/metrics with a bearer token file."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from helmtools import NAMESPACE, VALUE_SETS, render, run_helm


def _scrape_configmaps(manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in manifests if m["kind"] == "ConfigMap" and m["metadata"]["name"] == "gaia-lab-prometheus"]


def test_no_scrape_config_unless_enabled(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for name in VALUE_SETS:
        assert _scrape_configmaps(rendered[name]) == [], name


def test_enabled_scrape_config_is_valid_prometheus_config(chart_copy: Path, tmp_path: Path) -> None:
    manifests = render(
        chart_copy,
        "production",
        "--set",
        "gaiaLab.metrics.enabled=true",
        "--set",
        "gaiaLab.metrics.scrapeInterval=20s",
    )
    (configmap,) = _scrape_configmaps(manifests)
    config = yaml.safe_load(configmap["data"]["prometheus.yml"])
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/hub/metrics"
    assert job["static_configs"][0]["targets"] == [f"hub.{NAMESPACE}.svc:8081"]
    assert job["authorization"] == {
        "type": "Bearer",
        "credentials_file": "/etc/prometheus/secrets/gaia-lab-metrics/hub-token",
    }
    assert config["global"]["scrape_interval"] == "20s"
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is missing: scripts/setup.d/50-metrics.sh installs Debian's prometheus package")
    token = tmp_path / "hub-token"
    token.write_text("t")
    job["authorization"]["credentials_file"] = str(token)  # promtool checks the file exists
    checked = tmp_path / "prometheus.yml"
    checked.write_text(yaml.safe_dump(config))
    result = subprocess.run([promtool, "check", "config", str(checked)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_bad_scrape_interval_is_refused_by_the_values_schema(chart_copy: Path) -> None:
    refused = run_helm("template", "gaia-lab", chart_copy, "--set", "gaiaLab.metrics.scrapeInterval=often", check=False)
    assert refused.returncode != 0
    assert "scrapeInterval" in refused.stderr
