"""The hub's spawners: local processes whose ``start`` returns once the server answers.

- :class:`SystemUserSpawner` (the platform started as root): JupyterHub's ``LocalProcessSpawner``, each server and
  its kernels running as the hub user's own system account (:mod:`gaia_lab.platform.accounts`), made on first spawn.
- :class:`ReadyWaitingSpawner` (started as a normal user): ``SimpleLocalProcessSpawner``, every server running as
  the platform's account, homes under the data directory.

Both prepare the home before the server starts (JupyterLab's news question, the read-only workshop copy).

JupyterHub polls a starting server with exponential backoff and full jitter (waits drawn up to 0.2, 0.4, 0.8,
1.6, 3.2 s, ...), so a server ready after 3 s is typically noticed a second later. Polling every 50 ms from inside
``start`` (which may take as long as ``start_timeout`` allows) makes the hub's first check succeed.

The hub loads this module without gaia_lab's package ``__init__`` (see hub_config): standard library, JupyterHub,
and gaia_lab.platform.accounts only.
"""

from __future__ import annotations

import asyncio
import os
import pwd
from typing import Any

from jupyterhub.spawner import LocalProcessSpawner, SimpleLocalProcessSpawner, set_user_setuid
from tornado.httpclient import AsyncHTTPClient, HTTPClientError
from traitlets import List, Unicode

from gaia_lab.platform.account_traits import AccountSettings
from gaia_lab.platform.accounts import prepare_home

READY_POLL_INTERVAL = 0.05


class ReadyWaitingMixin(LocalProcessSpawner):  # type: ignore[misc]
    """``start`` waits (every 50 ms) for the server to answer HTTP; with the platform's S3 server, the session gets
    an access key of its own (gaia_lab.platform.s3_users)."""

    workshop_dir = Unicode("", help="Folder copied read-only into every new home as ~/workshop.", config=True)
    s3_state_file = Unicode("", help="The platform S3 server's state file (empty: no S3 server).", config=True)
    s3_private_users = List(Unicode(), ["*"], help="Hub users granted the private bucket ('*': all).", config=True)

    def get_env(self) -> dict[str, str]:
        env: dict[str, str] = super().get_env()
        env.update(getattr(self, "_s3_environment", {}))
        return env

    async def start(self) -> tuple[str, int]:
        if self.s3_state_file:
            from gaia_lab.platform.s3_users import session_credentials

            self._s3_environment = await asyncio.to_thread(
                session_credentials, self.s3_state_file, self.user.name, list(self.s3_private_users)
            )
        ip, port = await super().start()
        host = "127.0.0.1" if ip in ("", "0.0.0.0") else ip
        url = f"http://{host}:{port}{self.server.base_url}api"
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.http_timeout
        client = AsyncHTTPClient()
        while loop.time() < deadline:
            if await self.poll() is not None:
                break  # the process died: the hub's own checks report it
            try:
                response = await client.fetch(url, raise_error=False, follow_redirects=False, request_timeout=5)
            except (OSError, HTTPClientError):
                pass  # not listening yet
            else:
                if response.code < 500:  # any answer will do, as for the hub's own check (even 404)
                    break
            await asyncio.sleep(READY_POLL_INTERVAL)
        return str(ip), int(port)


class ReadyWaitingSpawner(ReadyWaitingMixin, SimpleLocalProcessSpawner):  # type: ignore[misc]
    """Every server runs as the platform's own account (no root): one shared account, a home per hub user."""

    async def start(self) -> tuple[str, int]:
        os.makedirs(self.home_dir, 0o700, exist_ok=True)
        await asyncio.to_thread(prepare_home, self.home_dir, workshop=self.workshop_dir or None)
        return await super().start()


class SystemUserSpawner(AccountSettings, ReadyWaitingMixin):
    """Every server, and its kernels and terminals, runs as the hub user's own system account (needs root)."""

    def _prepare(self) -> None:
        account = self.accounts.ensure(self.user.name)
        prepare_home(account.home, workshop=self.workshop_dir or None)

    async def start(self) -> tuple[str, int]:
        # useradd and the copy block: off the hub's event loop.
        await asyncio.to_thread(self._prepare)
        return await super().start()

    def make_preexec_fn(self, name: str) -> Any:
        return set_user_setuid(self.accounts.name(name))

    def user_env(self, env: dict[str, str]) -> dict[str, str]:
        entry = pwd.getpwnam(self.accounts.name(self.user.name))
        env["USER"] = entry.pw_name
        env["HOME"] = entry.pw_dir
        env["SHELL"] = entry.pw_shell or "/bin/bash"
        return env
