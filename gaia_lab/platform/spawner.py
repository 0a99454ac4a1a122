"""The hub's spawners: local processes whose ``start`` returns once the server answers.

- :class:`SystemUserSpawner` (the platform started as root): JupyterHub's ``LocalProcessSpawner``, each server and
  its kernels running as the hub user's own system account (:mod:`gaia_lab.platform.accounts`), made on first spawn.
- :class:`ReadyWaitingSpawner` (started as a normal user): ``SimpleLocalProcessSpawner``, every server running as
  the platform's account, homes under the data directory.

Both prepare the home before the server starts (JupyterLab's news question, the read-only workshop copy), and fork
the server from the platform's warm process of the sessions' Python when it runs (:class:`WarmStartMixin`).

JupyterHub polls a starting server with exponential backoff and full jitter (waits drawn up to 0.2, 0.4, 0.8,
1.6, 3.2 s, ...), so a server ready after 3 s is typically noticed a second later. Polling every 50 ms from inside
``start`` (which may take as long as ``start_timeout`` allows) makes the hub's first check succeed.

The hub loads this module without gaia_lab's package ``__init__`` (see hub_config): standard library, JupyterHub,
and gaia_lab.platform's accounts and warm_processes only.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import sys
from typing import Any

from jupyterhub.spawner import LocalProcessSpawner, SimpleLocalProcessSpawner, set_user_setuid
from jupyterhub.utils import random_port
from tornado.httpclient import AsyncHTTPClient, HTTPClientError
from traitlets import List, Unicode

from gaia_lab.platform.account_traits import AccountSettings
from gaia_lab.platform.accounts import prepare_home
from gaia_lab.platform.warm_processes import WarmProcessError, identity_of, spawn

READY_POLL_INTERVAL = 0.05


class WarmStartMixin(LocalProcessSpawner):  # type: ignore[misc]
    """The server is forked from a warm process of the sessions' Python (:mod:`gaia_lab.platform.warm_processes`)
    that has imported jupyter_server, JupyterLab and their extensions once, instead of a new interpreter importing
    them (2-3 s of every login on a small machine, and as much CPU taken from the other users). When that process
    does not answer or refuses, the server starts the usual way."""

    warm_socket = Unicode(
        "", help="Unix socket of the sessions' warm process (empty: each server starts a new interpreter).", config=True
    )

    def warm_account(self) -> str | None:
        """The account the server runs as (None: the hub's own)."""
        return str(self.user.name)

    async def start(self) -> tuple[str, int]:
        if not self.warm_socket or self.shell_cmd or self.popen_kwargs:
            return await super().start()  # type: ignore[no-any-return]
        if self.port == 0:  # type: ignore[has-type]
            self.port = random_port()
        env = self.get_env()
        command = [*self.cmd, *self.get_args()]
        account = self.warm_account()
        try:
            identity = identity_of(account) if account is not None else None
            pid = await asyncio.to_thread(
                spawn,
                self.warm_socket,
                command,
                env,
                cwd=env.get("HOME") or os.getcwd(),
                log_fd=sys.stderr.fileno(),
                identity=identity,
            )
        except (WarmProcessError, KeyError) as error:
            self.log.warning("Server of %s not forked warm (%s): starting a new process", self.user.name, error)
            return await super().start()  # type: ignore[no-any-return]
        self.log.info("Spawned %s forked warm as pid %d", command[0], pid)
        # Not the hub's child: polled and stopped by pid, as after a hub restart.
        self.proc = None
        self.pid = pid
        return (self.ip or "127.0.0.1", self.port)


class ReadyWaitingMixin(WarmStartMixin):
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

    def warm_account(self) -> str | None:
        return None

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

    def warm_account(self) -> str | None:
        return str(self.accounts.name(self.user.name))

    def user_env(self, env: dict[str, str]) -> dict[str, str]:
        entry = pwd.getpwnam(self.accounts.name(self.user.name))
        env["USER"] = entry.pw_name
        env["HOME"] = entry.pw_dir
        env["SHELL"] = entry.pw_shell or "/bin/bash"
        return env
