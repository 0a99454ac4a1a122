"""Where gaia_lab keeps its files by default (shared by the catalog loader, the lake builder and the platform)."""

from __future__ import annotations

import os
from pathlib import Path


def default_lake_dir() -> Path:
    """The demo data lake: ``$GAIA_LAB_LAKE``, else ``$XDG_DATA_HOME/gaia-lab/lake`` (``~/.local/share/...``)."""
    if lake := os.environ.get("GAIA_LAB_LAKE"):
        return Path(lake).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home).expanduser() / "gaia-lab" / "lake"


def user_catalog_path() -> Path:
    """The user's own federation config: ``$XDG_CONFIG_HOME/gaia-lab/catalog.yaml`` (``~/.config/...``)."""
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home).expanduser() / "gaia-lab" / "catalog.yaml"
