"""`gaia-lab up`: JupyterHub, Dask Gateway and the data lake on one machine (see docs/platform.md)."""

from __future__ import annotations

from gaia_lab.platform.api import down, status, up
from gaia_lab.platform.config import PlatformConfig, load_config
from gaia_lab.platform.supervisor import Platform, PlatformInfo

__all__ = ["Platform", "PlatformConfig", "PlatformInfo", "down", "load_config", "status", "up"]
