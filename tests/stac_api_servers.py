"""The federation's STAC API served for tests: uvicorn in a thread on a free port of 127.0.0.1."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from stac_servers import free_port

import gaia_lab as gl
from gaia_lab.stac_api.app import create_app
from gaia_lab.stac_api.federation import Federation

HOST = "127.0.0.1"


@dataclass
class ServedApi:
    url: str  # the root, trailing slash included
    federation: Federation
    server: Any
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


def serve_app(app: Any) -> tuple[str, Any, threading.Thread]:
    """An ASGI application served by uvicorn on a free port of 127.0.0.1, in a daemon thread."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host=HOST, port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, name=f"stac-api-{port}", daemon=True)
    thread.start()
    url = f"http://{HOST}:{port}/"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "conformance", timeout=5).status_code == 200:
                return url, server, thread
        except requests.ConnectionError:
            time.sleep(0.1)
    server.should_exit = True
    raise RuntimeError(f"the STAC API did not answer on {url}")


def start_api(providers: list[dict[str, Any]], state_dir: Path, *, default_user: str | None = "alice") -> ServedApi:
    federation = Federation(gl.open_catalog({"providers": providers}))
    app = create_app(federation, state_dir=state_dir, default_user=default_user)
    url, server, thread = serve_app(app)
    return ServedApi(url=url, federation=federation, server=server, thread=thread)
