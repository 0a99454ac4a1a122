"""The image lock agrees with pyproject.toml, and the image files are consistent with the chart."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from gaia_lab.platform.hub_config import UNUSED_SERVER_EXTENSIONS

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "images" / "base" / "requirements.lock"
CONSTRAINTS = ROOT / "images" / "base" / "constraints.txt"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;\\]+)")
# The image's interpreter and platform, as images/base/lock.sh compiles for them.
MARKER_ENV = {
    "python_version": "3.11",
    "python_full_version": "3.11.9",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "os_name": "posix",
}


def locked() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in LOCK.read_text().splitlines():
        match = PIN.match(line)
        if match:
            pins[canonicalize_name(match.group(1))] = Version(match.group(3))
    return pins


def image_requirements() -> list[Requirement]:
    """gaia-lab[all]'s requirements, extras expanded, for the image's platform."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    name = canonicalize_name(project["name"])
    extras = project["optional-dependencies"]
    todo, seen, out = ["all"], set(), [Requirement(r) for r in project["dependencies"]]
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for text in extras[extra]:
            req = Requirement(text)
            if canonicalize_name(req.name) == name:
                todo += sorted(req.extras)
            else:
                out.append(req)
    return [r for r in out if r.marker is None or r.marker.evaluate(MARKER_ENV)]


def test_every_pyproject_requirement_is_satisfied_by_a_pin() -> None:
    pins = locked()
    problems = []
    for req in image_requirements():
        version = pins.get(canonicalize_name(req.name))
        if version is None:
            problems.append(f"{req}: not in the lock")
        elif not req.specifier.contains(version, prereleases=True):
            problems.append(f"{req}: locked {version}")
    assert not problems, "regenerate with images/base/lock.sh:\n" + "\n".join(problems)


def test_constraints_hold_and_lock_is_exact_and_hashed() -> None:
    pins = locked()
    for line in CONSTRAINTS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            req = Requirement(line)
            assert req.specifier.contains(pins[canonicalize_name(req.name)]), req
    text = LOCK.read_text()
    entries = [line for line in text.splitlines() if line and not line[0].isspace() and not line.startswith("#")]
    assert len(entries) == len(pins) > 100
    # every pin carries its hashes (pip install --require-hashes)
    for block in re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2]):
        assert "--hash=sha256:" in block, block[:200]


def test_the_image_carries_what_the_chart_relies_on() -> None:
    pins = locked()
    # the notebook UI, the Dask dashboard in JupyterLab, the single-user server matching the hub's major version
    for name in ("jupyterlab", "dask-labextension", "jupyterhub", "dask-gateway", "distributed"):
        assert canonicalize_name(name) in pins, name
    assert pins["jupyterhub"].major == 5
    chart = yaml.safe_load((ROOT / "helm" / "gaia-lab" / "Chart.yaml").read_text())
    (gateway_chart,) = [d for d in chart["dependencies"] if d["name"] == "dask-gateway"]
    # dask-gateway client in sessions/workers and the gateway server of the chart are the same release
    assert str(pins["dask-gateway"]) == gateway_chart["version"]


def test_dockerfiles_run_as_non_root_and_smoke_test_at_build() -> None:
    base = (ROOT / "images" / "base" / "Dockerfile").read_text()
    workshop = (ROOT / "images" / "workshop" / "Dockerfile").read_text()
    assert "--require-hashes" in base
    assert "requirements.lock" in base
    assert "smoke_test.py" in base
    assert re.search(r"^USER 1000", base, re.MULTILINE)
    assert workshop.rstrip().splitlines()[-1].startswith("COPY")
    assert "USER 1000:100" in workshop
    assert "gaia-lab data build" in workshop


def test_the_image_disables_the_server_extensions_the_platform_disables() -> None:
    config = json.loads((ROOT / "images" / "base" / "jupyter_server_config.json").read_text())
    disabled = {name for name, on in config["ServerApp"]["jpserver_extensions"].items() if on is False}
    assert disabled == set(UNUSED_SERVER_EXTENSIONS)
    for name in disabled:  # real extension modules, present in the lock: not a typo that disables nothing
        assert importlib.util.find_spec(name) is not None, name
    base = (ROOT / "images" / "base" / "Dockerfile").read_text()
    assert re.search(
        r"^COPY images/base/jupyter_server_config.json \$VENV/etc/jupyter/jupyter_server_config.d/", base, re.MULTILINE
    )


def test_lock_changed_reports_a_change(tmp_path: Path) -> None:
    script = ROOT / "images" / "lock-changed.sh"
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True, check=False)
    recorded = LOCK.parent / "requirements.lock.sha256"
    assert proc.returncode in (0, 1), proc.stderr
    assert (proc.returncode == 1) == (recorded.exists() and "unchanged" in proc.stdout)


def test_the_tests_run_the_jupyterhub_the_image_ships() -> None:
    """JupyterHub in the development environment (the tests' hub) is the lock's, pinned by the constraints."""
    from importlib.metadata import version

    pins = locked()
    assert Version(version("jupyterhub")) == pins["jupyterhub"]
    constraint = next(
        Requirement(line) for line in CONSTRAINTS.read_text().splitlines() if line.startswith("jupyterhub")
    )
    assert str(constraint.specifier) == f"=={pins['jupyterhub']}"


def test_the_sessions_environment_is_the_image_lock() -> None:
    """What the local platform's sessions, schedulers and workers run in the tests (.venv-sessions, built by
    scripts/setup.d/35-session-env.sh) holds exactly the lock's pins: the tests run what the image ships."""
    python = ROOT / ".venv-sessions" / "bin" / "python"
    assert python.exists(), "run scripts/setup.sh"
    script = (
        "import json, importlib.metadata as m\n"
        "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))"
    )
    installed = json.loads(
        subprocess.run([str(python), "-c", script], capture_output=True, text=True, check=True).stdout
    )
    versions = {canonicalize_name(name): Version(value) for name, value in installed.items()}
    pins = locked()
    assert {name: versions.get(name) for name in pins} == pins
    # The image installs the openEO graph runtime on top of the lock (images/base/Dockerfile), and so does
    # scripts/setup.d/50-openeo-runtime.sh for the sessions: its pins, and nothing else, come in addition.
    runtime = {
        canonicalize_name(name): Version(value)
        for name, value in re.findall(
            r"^([A-Za-z0-9._-]+)==([^\s\\]+)", (ROOT / "scripts" / "openeo-runtime.txt").read_text(), re.M
        )
    }
    assert runtime, "scripts/openeo-runtime.txt pins nothing"
    assert {name: versions.get(name) for name in runtime} == runtime
    assert set(versions) - set(pins) == {"gaia-lab", *runtime}
