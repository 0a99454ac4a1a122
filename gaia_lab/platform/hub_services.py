"""What the platform's components that are also JupyterHub services share (OGC API - Processes, the federation's
STAC API, the portal): a state folder only root enters, the service's hub token and cookie secret generated once
(0600), its settings file, its entry in the hub's ``services``, and the JupyterHub variables its server reads.
"""

from __future__ import annotations

import json
import secrets as _random
from collections.abc import Mapping
from pathlib import Path

from gaia_lab.platform.layout import Ports
from gaia_lab.platform.secrets import write_private


def service_secrets(directory: Path) -> dict[str, str]:
    """The service's hub token and cookie secret, kept in ``directory/secrets.json``, generated once."""
    path = directory / "secrets.json"
    if path.exists():
        stored: dict[str, str] = json.loads(path.read_text())
        if {"hub_token", "cookie_secret"} <= set(stored):
            return stored
    created = {"hub_token": _random.token_hex(32), "cookie_secret": _random.token_hex(32)}
    write_private(path, json.dumps(created, indent=2))
    return created


def prepare_state(directory: Path, settings: Mapping[str, object]) -> tuple[dict[str, str], Path]:
    """The service's secrets and its settings file, written anew at each start."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    secrets = service_secrets(directory)
    settings_file = directory / "settings.json"
    settings_file.write_text(json.dumps(dict(settings), indent=2))
    return secrets, settings_file


def hub_service_entry(name: str, url: str) -> dict[str, object]:
    """The hub's ``services`` entry (its token is added from the service's variable by the generated hub config);
    users log in through the hub's OAuth without a confirmation page."""
    return {"name": name, "url": url, "display": True, "oauth_no_confirm": True}


def service_env(name: str, secrets: Mapping[str, str], cookie_secret_env: str, ip: str, ports: Ports) -> dict[str, str]:
    """The JupyterHub variables of the service's server: who it is to the hub, its token, its cookie secret."""
    return {
        "JUPYTERHUB_API_TOKEN": secrets["hub_token"],
        "JUPYTERHUB_API_URL": f"http://{ip}:{ports.hub_port}/hub/api",
        "JUPYTERHUB_SERVICE_NAME": name,
        cookie_secret_env: secrets["cookie_secret"],
    }
