"""The notebook "Open in JupyterLab" writes: checked ids, one file per entry, and code that opens the entry when run
in a real kernel against the demo lake."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from gaia_lab.errors import InvalidQuery
from gaia_lab.portal import notebook


def test_notebook_paths_are_one_per_entry_and_ids_are_checked() -> None:
    assert notebook.notebook_path("odatis/ostia-sst") == "portal/odatis-ostia-sst.ipynb"
    assert (
        notebook.notebook_path("climeri-esm/SRES.MOHC.UM-6.05.A1B.mon")
        == "portal/climeri-esm-SRES.MOHC.UM-6.05.A1B.mon.ipynb"
    )
    for bad in ("../etc/passwd", "odatis", "Odatis/x", "odatis/../../x", "odatis/x y", None, 3):
        with pytest.raises(InvalidQuery, match="entry"):
            notebook.check_entry_id(bad)


def test_the_notebook_opens_the_entry_as_a_cube_when_run(lake_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    content = notebook.build(
        "odatis/ostia-sst", title="OSTIA SST", description="Monthly means.", hub="ocean", portal_url="/p/#/x"
    )
    nb = nbformat.from_dict(content)
    nbformat.validate(nb)
    assert nb.cells[0].source.startswith("# OSTIA SST")
    monkeypatch.setenv("GAIA_LAB_CATALOG", str(lake_dir / "federation.yaml"))
    # The kernel imports this checkout's gaia_lab, as sessions do.
    monkeypatch.setenv(
        "PYTHONPATH", os.pathsep.join([str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")])
    )
    NotebookClient(nb, timeout=180, kernel_name="python3").execute()
    printed = "".join(output.get("text", "") for output in nb.cells[1].outputs)
    assert "OSTIA" in printed and "variables: sst" in printed, printed
    shown = nb.cells[2].outputs[0]["data"]["text/plain"]
    assert shown.startswith("<xarray.Dataset>") and "sst" in shown, shown
