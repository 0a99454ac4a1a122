"""Components started together (the platform's start waves): each is timed from its own start, and one that dies
while the others start is named."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from gaia_lab.errors import PlatformError
from gaia_lab.platform.layout import free_port
from gaia_lab.platform.processes import Component, http_ok, wait_all_healthy

# An HTTP server on 127.0.0.1 that starts listening after a delay.
SERVER = (
    "import http.server, sys, time; time.sleep(float(sys.argv[2])); "
    "http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), http.server.SimpleHTTPRequestHandler)"
    ".serve_forever()"
)


def _server(tmp_path: Path, name: str, delay: float) -> Component:
    port = free_port("127.0.0.1")
    return Component(
        name=name,
        argv=[sys.executable, "-c", SERVER, str(port), str(delay)],
        env=dict(os.environ),
        cwd=tmp_path,
        log=tmp_path / f"{name}.log",
        health=lambda: http_ok(f"http://127.0.0.1:{port}/"),
        start_timeout=30.0,
    )


def test_components_started_together_are_each_timed_from_their_own_start(tmp_path: Path) -> None:
    quick, slow = _server(tmp_path, "quick", 0.0), _server(tmp_path, "slow", 2.0)
    try:
        began = time.monotonic()
        quick.start()
        slow.start()
        took = wait_all_healthy([quick, slow])
        waited = time.monotonic() - began
        assert set(took) == {"quick", "slow"}
        assert took["quick"] < took["slow"]
        assert took["slow"] >= 2.0
        # together: the whole wave waits about as long as its slowest member, not the sum
        assert waited < took["quick"] + took["slow"]
        assert slow.wait_healthy() >= took["slow"]  # still counted from its start
    finally:
        quick.stop()
        slow.stop()


def test_a_component_dying_while_the_others_start_is_named(tmp_path: Path) -> None:
    fine = _server(tmp_path, "fine", 1.0)
    broken = Component(
        name="broken",
        argv=[sys.executable, "-c", "import sys; print('bad configuration'); sys.exit(3)"],
        env=dict(os.environ),
        cwd=tmp_path,
        log=tmp_path / "broken.log",
        health=lambda: False,
    )
    try:
        fine.start()
        broken.start()
        with pytest.raises(PlatformError, match="exited with code 3") as raised:
            wait_all_healthy([fine, broken])
        assert raised.value.component == "broken"
        assert "bad configuration" in str(raised.value)
    finally:
        fine.stop()
        broken.stop()
