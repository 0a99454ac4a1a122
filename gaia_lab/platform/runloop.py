"""The foreground loop of `gaia-lab up`: wait for Ctrl-C/SIGTERM or a dying component, then stop everything."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from types import FrameType
from typing import Protocol


class Stoppable(Protocol):
    out: Callable[[str], None]

    def check(self) -> None: ...

    def stop(self, *, quiet: bool = False) -> None: ...


def run_until_stopped(platform: Stoppable, poll: float = 1.0) -> None:
    """Block until SIGINT/SIGTERM (then stop everything) or a component dies (stop, then raise its PlatformError)."""
    stopping = False

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stopping:
            platform.check()
            time.sleep(poll)
        platform.out("Stopping GAIA Lab ...")
    finally:
        # Ignore a second Ctrl-C while stopping, or the stop itself would be interrupted and leave orphans.
        for sig in previous:
            signal.signal(sig, signal.SIG_IGN)
        try:
            platform.stop()
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)
