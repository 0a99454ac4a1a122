"""Passwords and tokens of the platform, generated once and kept 0600 in the data directory."""

from __future__ import annotations

import base64
import json
import os
import secrets as _random
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from gaia_lab.errors import PlatformError

SECRETS_FILE = "secrets.json"


@dataclass(frozen=True)
class Secrets:
    admin_password: str
    user_password: str
    proxy_auth_token: str  # hub <-> configurable-http-proxy
    gateway_hub_token: str  # dask-gateway's token as a hub service
    gateway_proxy_token: str  # dask-gateway server <-> its own proxy
    gateway_encrypt_key: str  # Fernet key for the gateway DB's cluster credentials
    platform_token: str  # the supervisor's admin service token (health checks, stopping servers)
    cookie_secret: str


def _generate() -> Secrets:
    return Secrets(
        # SharedPasswordAuthenticator requires >= 32 characters for admins; urlsafe(32) gives 43.
        admin_password=_random.token_urlsafe(32),
        user_password=_random.token_urlsafe(12),
        proxy_auth_token=_random.token_hex(32),
        gateway_hub_token=_random.token_hex(32),
        gateway_proxy_token=_random.token_hex(32),
        gateway_encrypt_key=base64.urlsafe_b64encode(os.urandom(32)).decode(),
        platform_token=_random.token_hex(32),
        cookie_secret=_random.token_hex(32),
    )


def write_private(path: Path, text: str) -> None:
    """Write a file only the owner can read, never briefly world-readable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)  # O_CREAT's mode does not apply to an existing file


def load_or_create(data_dir: Path, *, user_password: str = "", admin_password: str = "") -> tuple[Secrets, bool]:
    """The platform secrets and whether they were just created. Configured passwords override stored ones."""
    path = data_dir / SECRETS_FILE
    created = False
    if path.exists():
        if path.stat().st_mode & 0o077:
            raise PlatformError(f"{path} is readable by other users; run `chmod 600 {path}`", component="secrets")
        try:
            stored = json.loads(path.read_text())
            current = Secrets(**{f.name: stored[f.name] for f in fields(Secrets)})
        except (ValueError, KeyError, TypeError) as exc:
            raise PlatformError(
                f"{path} is unreadable ({exc}); delete it to generate new secrets", component="secrets"
            ) from exc
    else:
        current = _generate()
        created = True
    if user_password or admin_password:
        values = asdict(current)
        values["user_password"] = user_password or current.user_password
        values["admin_password"] = admin_password or current.admin_password
        current = Secrets(**values)
    if created or asdict(current) != json.loads(path.read_text()):
        write_private(path, json.dumps(asdict(current), indent=2))
    return current, created
