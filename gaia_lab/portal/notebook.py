"""The notebook "Open in JupyterLab" writes into a user's home: the code that opens one catalogue entry as a cube."""

from __future__ import annotations

import re
from typing import Any

from gaia_lab.errors import InvalidQuery

# A federation entry id: "<provider>/<collection or item id>" (CONVENTIONS.md); provider names are [a-z0-9-]+.
ENTRY_ID = re.compile(r"^[a-z0-9-]+/[A-Za-z0-9._:/-]{1,200}$")
FOLDER = "portal"


def check_entry_id(entry_id: object) -> str:
    if not isinstance(entry_id, str) or not ENTRY_ID.match(entry_id) or ".." in entry_id:
        raise InvalidQuery(
            "entry", entry_id, "not a catalogue entry id ('<provider>/<collection>', e.g. 'odatis/ostia-sst')"
        )
    return entry_id


def notebook_path(entry_id: str) -> str:
    """Where in the home the entry's notebook goes: one per entry, in ~/portal."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", check_entry_id(entry_id)).strip("-.")
    return f"{FOLDER}/{name}.ipynb"


def _cell(kind: str, source: str) -> dict[str, Any]:
    cell: dict[str, Any] = {"cell_type": kind, "metadata": {}, "source": source}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def build(
    entry_id: str, *, title: str = "", description: str = "", hub: str = "", portal_url: str = ""
) -> dict[str, Any]:
    """An nbformat 4 notebook (a dict, as the contents API takes it) opening ``entry_id`` as a lazy cube."""
    entry_id = check_entry_id(entry_id)
    heading = title or entry_id
    about = [f"# {heading}", ""]
    if description:
        about += [description.strip(), ""]
    where = f"`{entry_id}`" + (f", {hub} hub" if hub else "")
    about.append(
        f"Catalogue entry {where}" + (f", found in the [GAIA Lab portal]({portal_url})." if portal_url else ".")
    )
    about += ["", "Opening reads metadata only: pixels are read when a computation needs them."]
    cells = [
        _cell("markdown", "\n".join(about)),
        _cell(
            "code",
            "import gaia_lab as gl\n\n"
            "cat = gl.open_catalog()\n"
            f"entry = cat[{entry_id!r}]\n"
            "print(entry.title)\n"
            "print('variables:', ', '.join(entry.variables))",
        ),
        _cell("code", "ds = entry.to_xarray()  # lazy and dask-backed\nds"),
        _cell(
            "markdown",
            "Narrow the cube before computing: `entry.to_xarray(bbox=(west, south, east, north), "
            "datetime='2009', variables=[...])`; scale out with `gl.cluster()`.",
        ),
    ]
    return {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"},
            "language_info": {"name": "python"},
            "gaia_lab": {"entry": entry_id},
        },
        "cells": [{**cell, "id": f"cell-{index}"} for index, cell in enumerate(cells)],
    }
