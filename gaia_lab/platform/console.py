"""What `gaia-lab up` tells the person who started it."""

from __future__ import annotations

import getpass
from typing import TYPE_CHECKING

from gaia_lab.platform import hub_config

if TYPE_CHECKING:
    from gaia_lab.platform.config import PlatformConfig
    from gaia_lab.platform.layout import Layout
    from gaia_lab.platform.secrets import Secrets
    from gaia_lab.platform.supervisor import PlatformInfo

SINGLE_USER = "single-user mode: all sessions share this account"


def mode_line(config: PlatformConfig, layout: Layout) -> str:
    """One line saying who sessions run as."""
    if layout.shared_dir is None:
        return f"{SINGLE_USER} ({getpass.getuser()}); start as root for an account per user"
    return (
        f"per-user accounts: hub user <name> runs as system account {config.account_prefix}<name>, "
        f"home {layout.homes_dir}/<name> (mode 0700)"
    )


def summary(
    info: PlatformInfo, layout: Layout, config: PlatformConfig, secrets: Secrets, *, took: float, new_secrets: bool
) -> str:
    lines = [
        f"GAIA Lab is up in {took:.1f} s (data dir {info.data_dir}):",
        f"  JupyterHub + JupyterLab  {info.hub_url}",
        *([f"  Discovery portal         {info.portal_url}"] if info.portal_url else []),
        f"  Dask Gateway             {info.gateway_url}  (schedulers: {info.gateway_proxy_address})",
        f"  Data lake (HTTP, Range)  {info.lake_url}",
        *([f"  OPeNDAP (DAP2)           {info.opendap_url}"] if info.opendap_url else []),
        *([f"  OGC API - Processes      {info.processes_url}"] if info.processes_url else []),
        *([f"  openEO API               {info.openeo_url}"] if info.openeo_url else []),
        *([f"  STAC API (federation)    {info.stac_url}"] if info.stac_url else []),
        f"  Session catalogue        {info.catalog_file}",
        f"  Logs                     {layout.logs_dir}",
    ]
    if new_secrets and config.authenticator_class in hub_config.SHARED_PASSWORD_NAMES:
        lines += [
            "Passwords (shown once; kept in secrets.json, mode 0600):",
            f"  any user name + user password:  {secrets.user_password}",
            f"  admin ({', '.join(config.admin_users)}) password:  {secrets.admin_password}",
        ]
    lines.append("Stop with Ctrl-C (or `gaia-lab down` when started with --background).")
    return "\n".join(lines)
