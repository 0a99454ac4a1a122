"""docs/grafana/gaia-lab-usage.json: a dashboard Grafana imports (the fields its importer needs), whose every query is
valid PromQL for each value of its variables, as Prometheus's own promtool checks it."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "docs" / "grafana" / "gaia-lab-usage.json"


@pytest.fixture(scope="module")
def dashboard() -> dict:
    data: dict = json.loads(DASHBOARD.read_text())
    return data


def test_importable_structure(dashboard: dict) -> None:
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 36
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    assert [o["value"] for o in variables["by"]["options"]] == ["user", "group"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"]) and panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
        assert panel["datasource"]["uid"] == "${datasource}"
        assert panel["targets"] and all(target["expr"] for target in panel["targets"])


def test_every_query_is_valid_promql(dashboard: dict, tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool not found: install Debian's prometheus package (scripts/setup.d)")
    rules = []
    for by in ("user", "group"):
        for panel in dashboard["panels"]:
            for target in panel["targets"]:
                expr = target["expr"].replace("${by}", by).replace("$__range_s", "3600").replace("$__range", "1h")
                assert "$" not in expr, expr
                rules.append({"record": f"gaia_lab:panel{panel['id']}{target['refId'].lower()}:{by}", "expr": expr})
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run([promtool, "check", "rules", str(rules_file)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout
