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


def _exited(tmp_path: Path, name: str, code: int) -> Component:
    component = Component(
        name=name,
        argv=[sys.executable, "-c", f"print('{name} ends'); raise SystemExit({code})"],
        env=dict(os.environ),
        cwd=tmp_path,
        log=tmp_path / f"{name}.log",
        health=lambda: True,
    )
    component.start()
    assert component.proc is not None
    component.proc.wait(timeout=30)
    return component


def test_the_end_of_an_optional_component_is_told_and_the_end_of_another_stops_the_platform(tmp_path: Path) -> None:
    from gaia_lab.platform import Platform, load_config
    from gaia_lab.platform.components import WARM_SESSIONS

    lines: list[str] = []
    platform = Platform(load_config(None, data_dir=str(tmp_path / "data"), user_accounts="shared"), out=lines.append)
    platform.components[WARM_SESSIONS] = _exited(tmp_path, WARM_SESSIONS, 1)
    platform.check()
    assert WARM_SESSIONS not in platform.components
    assert f"{WARM_SESSIONS} exited with code 1" in lines[0]
    assert f"{WARM_SESSIONS} ends" in lines[0]
    platform.components["jupyterhub"] = _exited(tmp_path, "jupyterhub", 3)
    with pytest.raises(PlatformError, match=r"jupyterhub.*exited unexpectedly with code 3"):
        platform.check()
