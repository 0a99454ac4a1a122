"""The few calls of JupyterHub's REST API the supervisor makes (as its own hub service): list and stop servers."""

from __future__ import annotations

import contextlib
import json
import time
import urllib.request
from typing import Any


class HubAPI:
    def __init__(self, api_url: str, token: str, *, timeout: float = 10.0) -> None:
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def call(self, method: str, path: str) -> Any:
        request = urllib.request.Request(
            self.api_url + path, method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    def active_users(self) -> list[dict[str, Any]]:
        users: list[dict[str, Any]] = self.call("GET", "/users?state=active") or []
        return users

    def stop_all_servers(self, timeout: float = 30.0) -> None:
        """Ask the hub to stop every user server (so kernels shut down cleanly), waiting up to ``timeout``.

        Raises OSError or ValueError when the hub cannot be asked; whatever it could not stop is left to the caller.
        """
        deadline = time.monotonic() + timeout
        for user in self.active_users():
            for server_name in user.get("servers") or {}:
                suffix = f"/servers/{server_name}" if server_name else "/server"
                with contextlib.suppress(OSError):
                    self.call("DELETE", f"/users/{user['name']}{suffix}")
        while time.monotonic() < deadline and self.active_users():
            time.sleep(0.5)
