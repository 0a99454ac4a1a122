"""The user's own catalogue of results (processing outputs): a static STAC catalogue in the user's space, added to
the default federation as the provider ``user-results`` once it exists."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

PROVIDER = "user-results"
HUB = "user"
ENV_DIR = "GAIA_LAB_RESULTS_DIR"
DEFAULT_DIR = "gaia-lab-results"
CATALOG_NAME = "catalog.json"


def results_dir(home: str | os.PathLike[str] | None = None) -> Path:
    """Where a user's results go: ``$GAIA_LAB_RESULTS_DIR``, else ``~/gaia-lab-results`` (``home``: another home)."""
    if home is not None:
        return Path(home) / DEFAULT_DIR
    configured = os.environ.get(ENV_DIR)
    return Path(configured) if configured else Path.home() / DEFAULT_DIR


def provider_config(directory: str | os.PathLike[str] | None = None) -> dict[str, Any] | None:
    """The federation entry of the user's results catalogue, or None while it does not exist."""
    catalog = (Path(directory) if directory is not None else results_dir()) / CATALOG_NAME
    if not catalog.is_file():
        return None
    return {
        "name": PROVIDER,
        "title": "My processing results",
        "hub": HUB,
        "type": "stac",
        "url": str(catalog),
    }
