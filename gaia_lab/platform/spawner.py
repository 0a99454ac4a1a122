"""The hub's spawner: JupyterHub's SimpleLocalProcessSpawner, whose ``start`` returns once the server answers.

JupyterHub polls a starting server with exponential backoff and full jitter (waits drawn up to 0.2, 0.4, 0.8,
1.6, 3.2 s, ...), so a server ready after 3 s is typically noticed a second later. Polling every 50 ms from
inside ``start`` (which may take as long as ``start_timeout`` allows) makes the hub's first check succeed.

The generated jupyterhub_config.py carries this class's source, so the hub process needs no gaia_lab import.
"""

from __future__ import annotations

import asyncio

from jupyterhub.spawner import SimpleLocalProcessSpawner
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

READY_POLL_INTERVAL = 0.05


class ReadyWaitingSpawner(SimpleLocalProcessSpawner):  # type: ignore[misc]
    """Local process spawner whose ``start`` waits (every 50 ms) for the server to answer HTTP."""

    async def start(self) -> tuple[str, int]:
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
        return ip, port
