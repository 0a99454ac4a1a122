"""checkov (Kubernetes policies) over what the chart renders and over the session pods KubeSpawner builds from our
values. Every failed check must be skipped in helm/checkov.yaml with the reason; none may fail.

checkov offline knows no severities (they come from its online service): every finding counts as high."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from helmtools import NAMESPACE, ROOT, VALUE_SETS, load_values, session_manifests

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
CONFIG = ROOT / "helm" / "checkov.yaml"


def test_checkov_finds_nothing_unexplained(
    rendered: dict[str, list[dict[str, Any]]], hub_config, kubeconfig: Path, tmp_path: Path
) -> None:
    if not CHECKOV.exists():
        pytest.fail(
            "checkov not found: python3 -m venv .venv-checkov && .venv-checkov/bin/pip install checkov==3.3.30 "
            "(its own venv: it pins packaging and botocore versions the project cannot use)",
            pytrace=False,
        )
    scan = tmp_path / "manifests"
    scan.mkdir()
    for name in VALUE_SETS:
        (scan / f"chart-{name}.yaml").write_text(yaml.safe_dump_all(rendered[name]))
        c = hub_config(name)
        profiles = [p["slug"] for p in load_values(name)["jupyterhub"]["singleuser"]["profileList"]] or [None]
        for profile in profiles:
            pod, pvc = session_manifests(c, profile)
            pod["metadata"]["name"] = f"jupyter-{name}-{profile or 'default'}"
            # KubeSpawner passes the namespace with the API call, not in the manifest.
            pod["metadata"]["namespace"] = pvc["metadata"]["namespace"] = NAMESPACE
            (scan / f"session-{name}-{profile or 'default'}.yaml").write_text(yaml.safe_dump_all([pod, pvc]))
    proc = subprocess.run(
        [str(CHECKOV), "--config-file", str(CONFIG), "--directory", str(scan), "--output", "json"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads(proc.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = [
        f"{check['check_id']} {check['check_name']} -- {check['resource']} ({Path(check['file_path']).name})"
        for r in reports
        for check in r.get("results", {}).get("failed_checks", [])
    ]
    passed = sum(r.get("summary", {}).get("passed", 0) for r in reports)
    assert passed > 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert not failed, "checkov findings without a reason in helm/checkov.yaml:\n" + "\n".join(sorted(set(failed)))
