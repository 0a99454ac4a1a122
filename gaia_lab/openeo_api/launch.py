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
import sys
from pathlib import Path
from typing import Any

from gaia_lab.openeo_api import SERVER_SCRIPT, write_server_files


def _listable_catalog(path: Path) -> Any:
    """The federation's providers this process can list. Providers whose settings name a session's own credentials
    (``${GAIA_LAB_S3_ACCESS_KEY_ID}``, set in each user's session only) are left out of the collection list; a user's
    graph still opens them, on the user's cluster, with the user's keys."""
    import yaml

    from gaia_lab.catalog import Catalog
    from gaia_lab.catalog.federation import parse_federation
    from gaia_lab.errors import ConfigError

    document = yaml.safe_load(path.read_text())
    configs = []
    for provider in document["providers"]:
        try:
            configs += parse_federation({"providers": [provider]}, source=str(path))
        except ConfigError as error:
            print(f"openEO collections: provider {provider.get('name')!r} left out: {error}", file=sys.stderr)
    return Catalog.from_configs(configs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--catalog", required=True, type=Path)
    parser.add_argument("--settings", required=True, type=Path)
    parser.add_argument("--python", required=True)
    args = parser.parse_args()

    settings = json.loads(args.settings.read_text())
    collections_file, processes_file = write_server_files(_listable_catalog(args.catalog), args.settings.parent)
    settings.update(collections_file=str(collections_file), processes_file=str(processes_file))
    args.settings.write_text(json.dumps(settings, indent=2))
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # the server's venv must not see gaia_lab's stack
    os.execve(args.python, [args.python, str(SERVER_SCRIPT), "--settings", str(args.settings)], env)


if __name__ == "__main__":
    main()
