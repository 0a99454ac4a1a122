"""The openEO face of GAIA Lab: what the openEO API server (``server.py``, its own venv) serves, made here.

The server cannot import gaia_lab (openeo-driver's pins), so whoever starts it writes its collections (the
federation's entries as openEO collections) and its process specs (those ``openeo-graph`` evaluates) to JSON files
with :func:`write_server_files`.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gaia_lab.catalog import Catalog, Entry

SERVER_SCRIPT = Path(__file__).with_name("server.py")


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def collection(entry: Entry) -> dict[str, Any]:
    """An openEO collection (STAC Collection with datacube fields) for a cube entry: dims t, y, x, bands."""
    bbox = list(entry.bbox) if entry.bbox else [-180.0, -90.0, 180.0, 90.0]
    start, end = entry.datetime if entry.datetime else (None, None)
    west, south, east, north = bbox
    return {
        "stac_version": "1.0.0",
        "type": "Collection",
        "id": entry.id,
        "title": entry.title,
        "description": entry.description or entry.title,
        "license": "proprietary",
        "keywords": list(entry.keywords),
        "providers": [{"name": entry.provider, "roles": ["host"]}],
        "extent": {
            "spatial": {"bbox": [bbox]},
            "temporal": {"interval": [[_iso(start), _iso(end)]]},
        },
        "cube:dimensions": {
            "x": {"type": "spatial", "axis": "x", "extent": [west, east], "reference_system": 4326},
            "y": {"type": "spatial", "axis": "y", "extent": [south, north], "reference_system": 4326},
            "t": {"type": "temporal", "extent": [_iso(start), _iso(end)]},
            "bands": {"type": "bands", "values": list(entry.variables)},
        },
        "summaries": {"eo:bands": [{"name": name} for name in entry.variables]},
        "links": [],
    }


def collections(catalog: Catalog, *, limit: int = 1000) -> list[dict[str, Any]]:
    """The federation's gridded entries (collections with variables) as openEO collections."""
    found = catalog.search(limit=limit)
    return [collection(entry) for entry in found if entry.kind == "collection" and entry.variables]


def write_server_files(catalog: Catalog, directory: Path) -> tuple[Path, Path]:
    """``collections.json`` and ``processes.json`` for the server, in ``directory``."""
    from gaia_lab.processing.openeo_graph import process_specs

    directory.mkdir(parents=True, exist_ok=True)
    collections_file = directory / "collections.json"
    collections_file.write_text(json.dumps(collections(catalog)))
    processes_file = directory / "processes.json"
    processes_file.write_text(json.dumps(process_specs()))
    return collections_file, processes_file
