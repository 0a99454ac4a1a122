"""Start the openEO API server: write its collections and process specs from the federation, then become the server
(its own venv's Python; ``exec``, so the platform supervises the server itself).

    python -m gaia_lab.openeo_api.launch --catalog <federation.yaml> --settings <settings.json> --python <venv python>

Run by the platform just before the server starts, once the lake server answers: the collections are what the
federation lists then.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from gaia_lab.openeo_api import SERVER_SCRIPT, write_server_files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", required=True, type=Path)
    parser.add_argument("--settings", required=True, type=Path)
    parser.add_argument("--python", required=True)
    args = parser.parse_args()

    from gaia_lab.catalog import open_catalog

    settings = json.loads(args.settings.read_text())
    collections_file, processes_file = write_server_files(open_catalog(args.catalog), args.settings.parent)
    settings.update(collections_file=str(collections_file), processes_file=str(processes_file))
    args.settings.write_text(json.dumps(settings, indent=2))
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # the server's venv must not see gaia_lab's stack
    os.execve(args.python, [args.python, str(SERVER_SCRIPT), "--settings", str(args.settings)], env)


if __name__ == "__main__":
    main()
