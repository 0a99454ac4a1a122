"""Child processes in their own process groups: start, health-wait, stop, and sweep what a crash left behind."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from gaia_lab.errors import PlatformError

# Every process the platform starts (and the user servers and Dask clusters those start) carries this variable,
# set to the data dir: after a crash, `down` finds and stops them by it, so nothing is orphaned.
MARKER = "GAIA_LAB_PLATFORM_ID"


def http_ok(url: str, *, token: str | None = None, timeout: float = 2.0) -> bool:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"token {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return bool(200 <= response.status < 300)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def wait_all_healthy(starting: list[Component]) -> dict[str, float]:
    """Seconds from each component's start until its health check passed, checking them in turns (components
    started together each get their own figure); PlatformError for the first that died or timed out."""
    took: dict[str, float] = {}
    for component in starting:  # one started by other means: counted from now
        component.started_at = component.started_at or time.monotonic()
    delay = 0.05
    while len(took) < len(starting):
        for component in starting:
            if component.name not in took and (seconds := component.healthy_after()) is not None:
                took[component.name] = seconds
        if len(took) < len(starting):
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)
    return took


def log_tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join("    " + line for line in text[-lines:])


@dataclass
class Component:
    name: str
    argv: list[str]
    env: Mapping[str, str]
    cwd: Path
    log: Path
    health: Callable[[], bool]
    start_timeout: float = 60.0
    stop_timeout: float = 20.0
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    started_at: float = field(default=0.0, repr=False)  # time.monotonic() of the last start

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        self.started_at = time.monotonic()
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            try:
                # A session of its own: Ctrl-C in the terminal reaches only the supervisor, which stops the
                # children in order, and killpg reaches each component's own children (the gateway's proxy).
                self.proc = subprocess.Popen(
                    self.argv,
                    env=dict(self.env),
                    cwd=self.cwd,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            except OSError as exc:
                raise PlatformError(f"cannot run {self.argv[0]}: {exc}", component=self.name) from exc

    def wait_healthy(self) -> float:
        """Seconds from the start until the health check passed; PlatformError if the process died or timed out."""
        return wait_all_healthy([self])[self.name]

    def healthy_after(self) -> float | None:
        """Seconds from the start if the health check passes now, None if not yet; PlatformError if the process
        died or the start timed out (``wait_all_healthy`` sets ``started_at`` of a component it did not see start)."""
        if self.proc is not None and self.proc.poll() is not None:
            raise PlatformError(
                f"exited with code {self.proc.returncode} while starting; last lines of {self.log}:\n"
                + log_tail(self.log),
                component=self.name,
            )
        if self.health():
            return time.monotonic() - self.started_at
        if time.monotonic() - self.started_at > self.start_timeout:
            raise PlatformError(
                f"not healthy after {self.start_timeout:.0f} s; last lines of {self.log}:\n" + log_tail(self.log),
                component=self.name,
            )
        return None

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            kill_group(self.proc.pid, self.stop_timeout, wait=self.proc.wait)
        else:
            kill_group(self.proc.pid, 0.0)  # its children may outlive it
        self.proc = None


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def kill_group(pgid: int, timeout: float, *, wait: Callable[[float], object] | None = None) -> None:
    """SIGTERM a process group, then SIGKILL what is left after timeout."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    if wait is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            wait(max(timeout, 0.1))
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def marked_pids(marker_value: str) -> list[int]:
    """Processes whose environment has MARKER=marker_value (the platform's children and their children)."""
    needle = f"{MARKER}={marker_value}".encode()
    found = []
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def sweep(marker_value: str, timeout: float = 10.0) -> list[int]:
    """Stop every process left over from the platform with this marker; returns their pids."""
    pids = marked_pids(marker_value)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.1)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return pids


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (our own exited child not yet reaped) counts as gone.
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def pid_alive(pid: int) -> bool:
    return _alive(pid)
