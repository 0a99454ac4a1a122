"""The functions `gaia-lab up|status|down` call."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gaia_lab.errors import PlatformError
from gaia_lab.platform.accounts import Accounts, stop_processes_of
from gaia_lab.platform.config import PlatformConfig, default_data_dir
from gaia_lab.platform.layout import Layout
from gaia_lab.platform.processes import http_ok, log_tail, pid_alive, sweep
from gaia_lab.platform.secrets import write_private
from gaia_lab.platform.supervisor import Platform, PlatformInfo, read_state, read_state_file

RUN_CONFIG = "run-config.json"  # the config a background supervisor starts from (0600: may hold passwords)


def up(
    config: PlatformConfig,
    workshop_dir: str | os.PathLike[str] | None = None,
    foreground: bool = True,
    *,
    out: Callable[[str], None] = print,
    timeout: float = 300.0,
) -> PlatformInfo | dict[str, Any]:
    """Start the platform.

    Foreground: blocks until Ctrl-C/SIGTERM (then stops everything) and returns the PlatformInfo it served;
    raises PlatformError naming the component when one fails to start or dies.
    Background: starts a detached supervisor, waits until it is healthy and returns its state (see status()).
    ``workshop_dir``: notebooks copied into every new user's home.
    """
    if workshop_dir is not None:
        config.workshop_dir = str(Path(workshop_dir).expanduser().resolve())
    if foreground:
        platform = Platform(config, out=out)
        info = platform.start()
        platform.run_forever()
        return info
    return _start_background(config, out=out, timeout=timeout)


def _start_background(config: PlatformConfig, *, out: Callable[[str], None], timeout: float) -> dict[str, Any]:
    layout = Layout.from_config(config)
    layout.make()
    if (state := read_state(layout.data_dir)) is not None:
        raise PlatformError(f"already running (pid {state['pid']}) from {layout.data_dir}", component="supervisor")
    values = {name: getattr(config, name) for name in config.trait_names(config=True)}
    values["data_dir"] = str(layout.data_dir)
    run_config = layout.data_dir / RUN_CONFIG
    write_private(run_config, json.dumps(values))
    log = layout.logs_dir / "supervisor.log"
    # posix_spawn rather than Popen: the supervisor outlives this call, and a dropped Popen of a live process
    # warns (ResourceWarning). setsid: it survives the terminal that started it.
    pid = os.posix_spawn(
        sys.executable,
        [sys.executable, "-m", "gaia_lab.platform", "--run-config", str(run_config)],
        dict(os.environ),
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, str(log), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ],
        setsid=True,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, code = os.waitpid(pid, os.WNOHANG)
        if done:
            raise PlatformError(
                f"background supervisor exited with code {os.waitstatus_to_exitcode(code)}; last lines of {log}:\n"
                + log_tail(log),
                component="supervisor",
            )
        state = read_state(layout.data_dir)
        if state is not None and state.get("pid") == pid:
            out(log.read_text(errors="replace").strip("\n"))
            return state
        time.sleep(0.5)
    down(layout.data_dir)
    raise PlatformError(f"not up after {timeout:.0f} s; see {log}", component="supervisor")


def status(data_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """``{"running": bool, "pid", "hub_url", ..., "components": {name: {"pid", "alive"}}, "healthy": {...}}``."""
    directory = Path(data_dir).expanduser().resolve() if data_dir else default_data_dir().resolve()
    state = read_state(directory)
    if state is None:
        return {"running": False, "data_dir": str(directory)}
    ports = state["ports"]
    components = {
        name: {"pid": pid, "alive": bool(pid) and pid_alive(pid)} for name, pid in state.get("components", {}).items()
    }
    ip = state["hub_url"].split("//", 1)[1].rsplit(":", 1)[0]
    # A busy machine (a class starting its clusters) may take seconds to answer; not answering in 5 s is unhealthy.
    healthy = {
        "jupyterhub": http_ok(f"{state['hub_url']}hub/health", timeout=5),
        "dask-gateway": http_ok(f"{state['gateway_url']}/api/health", timeout=5),
        "lake": http_ok(f"http://{ip}:{ports['lake_port']}/_health", timeout=5),
    }
    if "csw" in components:
        healthy["csw"] = components["csw"]["alive"]
    if "opendap" in components:
        healthy["opendap"] = http_ok(f"http://{ip}:{ports['opendap_port']}/_health", timeout=5)
    if "records" in components:
        healthy["records"] = http_ok(f"http://{ip}:{ports['records_port']}/collections?f=json", timeout=5)
    if "processes" in components:
        healthy["processes"] = http_ok(f"http://{ip}:{ports['processes_port']}/_health", timeout=5)
    return {"running": True, **state, "components": components, "healthy": healthy}


def down(data_dir: str | os.PathLike[str] | None = None, timeout: float = 90.0) -> bool:
    """Stop a background platform (and anything a crashed run left behind). True if something was running."""
    directory = Path(data_dir).expanduser().resolve() if data_dir else default_data_dir().resolve()
    last = read_state_file(directory)  # names the accounts even when its supervisor crashed
    state = read_state(directory)
    was_running = state is not None
    if state is not None:
        pid = int(state["pid"])
        if pid == os.getpid():
            raise PlatformError("this process is the supervisor; stop it with Ctrl-C", component="supervisor")
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)  # reap it when `up --background` ran in this very process
    leftovers = sweep(str(directory))
    if last is not None and last.get("user_accounts") == "system":
        accounts = Accounts(str(last["account_prefix"]), str(last["homes_dir"]))
        leftovers += stop_processes_of(accounts.uids())
    state_file = Layout(directory, directory / "lake").state_file
    if state_file.exists() and read_state(directory) is None:
        state_file.unlink()
    return was_running or bool(leftovers)


def run_background(run_config: Path) -> None:
    """Entry point of the detached supervisor (``python -m gaia_lab.platform --run-config FILE``)."""
    values = json.loads(run_config.read_text())
    config = PlatformConfig(**values)
    platform = Platform(config, out=lambda line: print(line, flush=True))
    platform.start()
    platform.run_forever()
