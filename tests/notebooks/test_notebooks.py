"""The notebooks of notebooks/: stored without outputs, and each one executed on the running platform as a workshop
participant runs it.

The session's platform (tests/conftest.py) has the repository's notebooks/ as its workshop folder. A new user logs
in, their server copies the notebooks read-only into ~/workshop, and inside that user's kernel nbclient executes
each ~/workshop/NN-*.ipynb in a fresh kernel with the session's environment (GAIA_LAB_CATALOG pointing at the lake
server, DASK_GATEWAY__* at the platform's gateway). Executed notebooks, their HTML plots and the run times land in
artifacts/notebooks/.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))
ARTIFACTS = ROOT / "artifacts" / "notebooks"
BUDGET = 300.0  # seconds per notebook, kernel start included
USER = "trainee"
# What a notebook must print on the platform, beyond running without error.
EXPECTED_OUTPUT = {
    "03-scale-out.ipynb": ["Dask Gateway at http://", "cluster: GatewayCluster"],
    "01-discover.ipynb": ["offline-hub: Provider"],  # ProviderError, or ProviderTimeout on a slow machine
}
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def rendered_offline(plots: list[Path]) -> dict[Path, int]:
    """Bokeh views each saved HTML plot renders in Debian's Chromium, every request but file:// refused."""
    from playwright.sync_api import sync_playwright

    from tests.platform.test_ui_browser import CHROMIUM, CHROMIUM_ARGS

    views: dict[Path, int] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            for plot in plots:
                page = browser.new_page()
                page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file:") else route.abort())
                page.goto(plot.resolve().as_uri())
                page.wait_for_function("() => window.Bokeh && Object.keys(Bokeh.index).length > 0", timeout=30_000)
                views[plot] = page.evaluate("() => Object.keys(Bokeh.index).length")
                page.close()
        finally:
            browser.close()
    return views

CHECK_WORKSHOP = r"""
import hashlib, json, os, stat
from pathlib import Path
workshop = Path.home() / "workshop"
entries = {}
for path in [workshop, *sorted(workshop.rglob("*"))]:
    info = path.stat()
    entries[path.relative_to(workshop).as_posix()] = {
        "dir": path.is_dir(),
        "mode": stat.S_IMODE(info.st_mode),
        "writable": os.access(path, os.W_OK),
        "sha256": None if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest(),
    }
print("RESULT" + json.dumps({"home": str(Path.home()), "euid": os.geteuid(), "entries": entries}))
"""

RUN_NOTEBOOK = r"""
import json, os, time
from pathlib import Path
import nbclient, nbformat
from nbclient.exceptions import CellExecutionError

name, budget = {name!r}, {budget!r}
source = Path.home() / "workshop" / name
run_dir = Path.home() / "notebook-runs" / Path(name).stem
run_dir.mkdir(parents=True, exist_ok=True)
os.environ["GAIA_LAB_NOTEBOOK_OUTPUT"] = str(run_dir / "outputs")  # inherited by the notebook's kernel
notebook = nbformat.read(source, as_version=4)
client = nbclient.NotebookClient(
    notebook, timeout=int(budget), kernel_name="python3", resources={{"metadata": {{"path": str(run_dir)}}}}
)
started = time.monotonic()
error = None
try:
    client.execute()
except CellExecutionError as exc:
    error = str(exc)
except Exception as exc:  # a cell over the time budget, a kernel that died
    error = f"{{type(exc).__name__}}: {{exc}}"
seconds = time.monotonic() - started
executed = run_dir / name
nbformat.write(notebook, executed)
print("RESULT" + json.dumps({{
    "seconds": seconds, "error": error, "executed": str(executed), "outputs": str(run_dir / "outputs"),
}}))
"""


def _result(output: str) -> dict:
    line = next(line for line in output.splitlines() if line.startswith("RESULT"))
    return json.loads(line[len("RESULT") :])


def _ids(path: Path) -> str:
    return path.stem


def _printed(notebook: nbformat.NotebookNode) -> tuple[str, list[str]]:
    """Everything the code cells printed (stdout and text results), and the warnings they wrote to stderr."""
    text: list[str] = []
    warnings: list[str] = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream" and output.get("name") == "stderr":
                warnings += [line.strip() for line in output["text"].splitlines() if "Warning:" in line]
            elif output.get("output_type") == "stream":
                text.append(output["text"])
            elif "text/plain" in output.get("data", {}):
                text.append(output["data"]["text/plain"])
    return "".join(text), warnings


def test_the_six_notebooks_are_there():
    assert [path.name for path in NOTEBOOKS] == [
        "01-discover.ipynb",
        "02-datacubes.ipynb",
        "03-scale-out.ipynb",
        "04-multi-compartment-event.ipynb",
        "05-time-series.ipynb",
        "06-biodiversity.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_notebook_is_stored_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code, f"{path.name} has no code"
    for index, cell in enumerate(code):
        assert cell.outputs == [], f"{path.name}: code cell {index} has outputs; clear them before committing"
        assert cell.execution_count is None, f"{path.name}: code cell {index} has an execution count"
    assert "widgets" not in notebook.metadata, f"{path.name} stores widget state"
    assert notebook.metadata["kernelspec"]["name"] == "python3"
    # It opens by naming its data and their licences.
    first = notebook.cells[0]
    assert first.cell_type == "markdown"
    assert re.search(r"(?i)licen[cs]e", first.source), f"{path.name}: the first cell must state data licences"
    # The public API only, and the plots go where GAIA_LAB_NOTEBOOK_OUTPUT says.
    source = "\n".join(cell.source for cell in code)
    assert "import gaia_lab as gl" in source
    assert not re.search(r"from gaia_lab|import gaia_lab\.|gaia_lab\.\w", source), f"{path.name} uses internals"
    assert "GAIA_LAB_NOTEBOOK_OUTPUT" in source
    assert "hvplot.save(" in source


@pytest.fixture(scope="module")
def participant(platform, make_user):
    """A workshop participant with a running server; their home got the workshop copy at spawn."""
    user = make_user(USER)
    user.start_server(timeout=300)
    yield user
    user.stop_server()


@pytest.fixture(scope="module")
def artifacts():
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    (ARTIFACTS / "plots").mkdir(parents=True)
    return ARTIFACTS


@pytest.mark.platform
@pytest.mark.slow
def test_workshop_copy_in_the_home_is_read_only(platform, participant):
    found = _result(participant.run(CHECK_WORKSHOP, timeout=120))
    assert Path(found["home"]) == platform.layout.homes_dir / USER
    entries = found["entries"]
    assert entries["."]["dir"]
    assert entries["."]["mode"] == 0o555
    for path in NOTEBOOKS:
        entry = entries[path.name]
        assert entry["mode"] == 0o444, (path.name, oct(entry["mode"]))
        assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest(), f"{path.name} differs from git"
    for name, entry in entries.items():
        assert entry["mode"] == (0o555 if entry["dir"] else 0o444), (name, oct(entry["mode"]))
        if found["euid"] != 0:  # root writes whatever the mode bits say
            assert not entry["writable"], name


@pytest.mark.platform
@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_notebook_runs_on_the_platform(path, platform, participant, artifacts, notebook_timings):
    kernel = participant.start_kernel()
    try:
        output = participant.run(
            RUN_NOTEBOOK.format(name=path.name, budget=BUDGET), timeout=BUDGET + 120, kernel_id=kernel
        )
    finally:
        participant.api("DELETE", f"user/{USER}/api/kernels/{kernel}")
    result = _result(output)

    # The user's home is a local folder (local spawner, same OS user): collect what the run produced.
    executed = Path(result["executed"])
    assert executed.is_relative_to(platform.layout.homes_dir / USER)
    shutil.copy2(executed, artifacts / path.name)
    plots = sorted(Path(result["outputs"]).glob("*.html")) if Path(result["outputs"]).is_dir() else []
    for plot in plots:
        shutil.copy2(plot, artifacts / "plots" / plot.name)
    printed, warnings = _printed(nbformat.read(executed, as_version=4))
    notebook_timings[path.name] = {
        "seconds": round(result["seconds"], 1),
        "budget": BUDGET,
        "status": "error" if result["error"] else "ok",
        "warnings": sorted(set(warnings)),
        "plots": [plot.name for plot in plots],
    }
    (artifacts / "timings.json").write_text(json.dumps(notebook_timings, indent=2, sort_keys=True) + "\n")

    if result["error"]:
        pytest.fail(f"{path.name} failed on the platform:\n{ANSI.sub('', result['error'])}", pytrace=False)
    assert result["seconds"] <= BUDGET, f"{path.name} took {result['seconds']:.0f} s, over its {BUDGET:.0f} s budget"
    assert plots, f"{path.name} saved no HTML plot into $GAIA_LAB_NOTEBOOK_OUTPUT"
    for plot, views in rendered_offline(plots).items():  # BokehJS inline: the saved plots need no internet
        assert views > 0, f"{plot.name}: Bokeh rendered nothing in Chromium with the network blocked"
    for expected in EXPECTED_OUTPUT.get(path.name, []):
        assert expected in printed, f"{path.name} did not print {expected!r}"
    assert os.path.getsize(artifacts / path.name) > 0
