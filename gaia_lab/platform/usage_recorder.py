"""What the hub and the gateway processes share to record usage: a store, this process's recorder run, and a
heartbeat thread (a thread, not a task: it beats whatever the event loop is busy with, and needs no loop at import).

Recording never fails the thing recorded: every write is wrapped, its failure logged.
Standard library only (the hub imports it without gaia_lab's package ``__init__``).
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Callable
from typing import Any

from gaia_lab.platform.usage_store import HEARTBEAT_SECONDS, Recorder, UsageStore

log = logging.getLogger("gaia_lab.usage")


class RecordingProcess:
    """One per process and database: ``begin_run`` at creation, heartbeats until exit."""

    def __init__(self, path: str, source: str, *, heartbeat: float = HEARTBEAT_SECONDS) -> None:
        self.store = UsageStore(path)
        self.source = source
        self.store.create()
        self.recorder: Recorder = self.store.begin_run(source)
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, args=(heartbeat,), name=f"gaia-lab-usage-{source}", daemon=True
        )
        self._thread.start()
        atexit.register(self.close)

    def _beat(self, period: float) -> None:
        while not self._stopped.wait(period):
            self.safely("heartbeat", self.store.heartbeat, self.source)

    def close(self) -> None:
        """Last heartbeat (a clean exit is "alive until now"), and no more."""
        if not self._stopped.is_set():
            self._stopped.set()
            self.safely("heartbeat", self.store.heartbeat, self.source)

    def safely(self, what: str, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except Exception as exc:  # accounting must never break a spawn or a cluster
            log.warning("usage accounting: %s failed (%s: %s); continuing", what, type(exc).__name__, exc)
            return None


_processes: dict[tuple[str, str], RecordingProcess] = {}
_lock = threading.Lock()


def recording_process(path: str, source: str) -> RecordingProcess:
    """This process's recorder for ``path`` (one run per process, however often a config is loaded)."""
    with _lock:
        key = (str(path), source)
        if key not in _processes:
            _processes[key] = RecordingProcess(path, source)
        return _processes[key]
