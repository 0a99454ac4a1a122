"""`gaia-lab up`: JupyterHub, Dask Gateway and the data lake on one machine (see docs/platform.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gaia_lab.platform.api import down, status, up
    from gaia_lab.platform.config import PlatformConfig, load_config
    from gaia_lab.platform.supervisor import Platform, PlatformInfo

# Imported on first use (PEP 562): the command line registers the platform's commands from
# gaia_lab.platform.cli_args, and `gaia-lab search` or `--help` need none of the supervisor, its components and
# their configuration classes.
_LAZY = {
    "down": "gaia_lab.platform.api",
    "status": "gaia_lab.platform.api",
    "up": "gaia_lab.platform.api",
    "PlatformConfig": "gaia_lab.platform.config",
    "load_config": "gaia_lab.platform.config",
    "Platform": "gaia_lab.platform.supervisor",
    "PlatformInfo": "gaia_lab.platform.supervisor",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'gaia_lab.platform' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = ["Platform", "PlatformConfig", "PlatformInfo", "down", "load_config", "status", "up"]
