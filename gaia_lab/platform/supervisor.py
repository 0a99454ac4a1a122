"""The supervisor: starts lake server, proxy, gateway and hub in order, watches them, stops them all.

Order matters: the hub waits ~28 s at start-up for a registered service URL that does not answer yet, so the
gateway starts (and answers) before the hub.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from gaia_lab.errors import GaiaLabError, PlatformError
from gaia_lab.platform import gateway_config, hub_config
from gaia_lab.platform.config import PlatformConfig
from gaia_lab.platform.federation import write_session_federation
from gaia_lab.platform.layout import Layout, Ports, resolve_ports
from gaia_lab.platform.processes import MARKER, Component, http_ok, sweep
from gaia_lab.platform.secrets import Secrets, load_or_create, write_private

PROXY_INSTALL_HINT = (
    "install it with `npm install -g configurable-http-proxy` (Node.js >= 18), or "
    "`npm install --prefix <data dir>/node configurable-http-proxy`, or set proxy_command in the platform config"
)


@dataclass(frozen=True)
class PlatformInfo:
    """Where the running platform answers."""

    data_dir: Path
    ports: Ports
    hub_url: str
    gateway_url: str
    gateway_proxy_address: str
    lake_url: str
    catalog_file: Path

    def as_dict(self) -> dict[str, Any]:
        return {
            "data_dir": str(self.data_dir),
            "ports": self.ports.as_dict(),
            "hub_url": self.hub_url,
            "gateway_url": self.gateway_url,
            "gateway_proxy_address": self.gateway_proxy_address,
            "lake_url": self.lake_url,
            "catalog_file": str(self.catalog_file),
        }


def find_proxy(config: PlatformConfig, layout: Layout) -> list[str]:
    if config.proxy_command:
        command = list(config.proxy_command)
        if shutil.which(command[0]) is None:
            raise PlatformError(
                f"proxy_command {command[0]!r} not found; {PROXY_INSTALL_HINT}", component="configurable-http-proxy"
            )
        return command
    candidates = [
        shutil.which("configurable-http-proxy"),
        layout.data_dir / "node" / "node_modules" / ".bin" / "configurable-http-proxy",
        layout.data_dir / "node" / "bin" / "configurable-http-proxy",
        Path.cwd() / "node_modules" / ".bin" / "configurable-http-proxy",
    ]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return [str(candidate)]
    raise PlatformError(
        f"configurable-http-proxy not found on PATH; {PROXY_INSTALL_HINT}", component="configurable-http-proxy"
    )


def ensure_lake(lake_dir: Path, out: Callable[[str], None]) -> None:
    if (lake_dir / "federation.yaml").is_file():
        return
    try:
        from gaia_lab.datalake import build_lake  # type: ignore[attr-defined,unused-ignore]
    except ImportError as exc:
        raise PlatformError(f"cannot build the demo lake into {lake_dir}: {exc}", component="lake") from exc
    out(f"Building the demo data lake in {lake_dir} (first start only) ...")
    started = time.monotonic()
    try:
        build_lake(lake_dir)
    except GaiaLabError as exc:
        raise PlatformError(f"building the lake in {lake_dir} failed: {exc}", component="lake") from exc
    out(f"  lake built in {time.monotonic() - started:.1f} s")


class Platform:
    """The running platform. ``start()`` returns once every component is healthy; ``stop()`` stops them all."""

    def __init__(self, config: PlatformConfig, *, out: Callable[[str], None] = print) -> None:
        config.check()
        self.config = config
        self.out = out
        self.layout = Layout.from_config(config)
        self.python = config.python or sys.executable
        self.components: dict[str, Component] = {}
        self.secrets: Secrets | None = None
        self.info: PlatformInfo | None = None
        self.secrets_created = False

    # -- building the components -------------------------------------------------------------------------------

    def _base_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env[MARKER] = str(self.layout.data_dir)
        bin_dir = str(Path(self.python).parent)
        env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "/usr/local/bin:/usr/bin:/bin")])
        return env

    def _components(self, ports: Ports, secrets: Secrets, proxy: list[str]) -> list[Component]:
        ip = self.config.ip
        logs = self.layout.logs_dir
        base = self._base_env()
        hub_api = f"http://{ip}:{ports.hub_port}/hub/api"

        lake = Component(
            name="lake",
            argv=[
                self.python,
                "-m",
                "gaia_lab.platform.lake_server",
                "--root",
                str(self.layout.lake_dir),
                "--host",
                ip,
                "--port",
                str(ports.lake_port),
            ],
            env=base,
            cwd=self.layout.data_dir,
            log=logs / "lake.log",
            health=lambda: http_ok(f"http://{ip}:{ports.lake_port}/_health"),
        )
        chp = Component(
            name="configurable-http-proxy",
            argv=[
                *proxy,
                "--ip",
                ip,
                "--port",
                str(ports.port),
                "--api-ip",
                ip,
                "--api-port",
                str(ports.proxy_api_port),
                "--default-target",
                f"http://{ip}:{ports.hub_port}",
                "--error-target",
                f"http://{ip}:{ports.hub_port}/hub/error",
            ],
            env={**base, hub_config.ENV_PROXY_TOKEN: secrets.proxy_auth_token},
            cwd=self.layout.data_dir,
            log=logs / "proxy.log",
            health=lambda: http_ok(f"http://{ip}:{ports.proxy_api_port}/api/routes", token=secrets.proxy_auth_token),
        )
        gateway = Component(
            name="dask-gateway",
            argv=[self.python, "-m", "dask_gateway_server", "-f", str(self.layout.gateway_config_file)],
            env={
                **base,
                "JUPYTERHUB_API_TOKEN": secrets.gateway_hub_token,
                "JUPYTERHUB_API_URL": hub_api,
                "JUPYTERHUB_SERVICE_NAME": hub_config.GATEWAY_SERVICE,
                "DASK_GATEWAY_PROXY_TOKEN": secrets.gateway_proxy_token,
                "DASK_GATEWAY_ENCRYPT_KEYS": secrets.gateway_encrypt_key,
            },
            cwd=self.layout.gateway_dir,
            log=logs / "gateway.log",
            health=lambda: http_ok(f"http://{ip}:{ports.gateway_port}/services/dask-gateway/api/health"),
            # Stopping clusters on shutdown takes the gateway a few seconds per cluster.
            stop_timeout=30.0,
        )
        hub = Component(
            name="jupyterhub",
            argv=[self.python, "-m", "jupyterhub", "-f", str(self.layout.hub_config_file)],
            env={
                **base,
                hub_config.ENV_PROXY_TOKEN: secrets.proxy_auth_token,
                hub_config.ENV_USER_PASSWORD: secrets.user_password,
                hub_config.ENV_ADMIN_PASSWORD: secrets.admin_password,
                hub_config.ENV_GATEWAY_TOKEN: secrets.gateway_hub_token,
                hub_config.ENV_PLATFORM_TOKEN: secrets.platform_token,
                "JPY_COOKIE_SECRET": secrets.cookie_secret,
            },
            cwd=self.layout.hub_dir,
            log=logs / "hub.log",
            # Through the proxy: healthy means the hub answers *and* its routes are in place.
            health=lambda: http_ok(f"http://{ip}:{ports.port}/hub/health"),
            start_timeout=120.0,
        )
        return [lake, chp, gateway, hub]

    # -- lifecycle --------------------------------------------------------------------------------------------

    def start(self) -> PlatformInfo:
        layout, config = self.layout, self.config
        layout.make()
        running = read_state(layout.data_dir)
        if running is not None:
            raise PlatformError(
                f"already running (pid {running['pid']}) from {layout.data_dir}; use `gaia-lab status` or "
                "`gaia-lab down`",
                component="supervisor",
            )
        # A previous run that crashed may have left user servers or clusters behind.
        leftovers = sweep(str(layout.data_dir))
        if leftovers:
            self.out(f"Stopped {len(leftovers)} process(es) left over from a previous run.")
        proxy = find_proxy(config, layout)
        self.secrets, self.secrets_created = load_or_create(
            layout.data_dir, user_password=config.user_password, admin_password=config.admin_password
        )
        ensure_lake(layout.lake_dir, self.out)
        ports = resolve_ports(config)
        ip = config.ip
        self.info = PlatformInfo(
            data_dir=layout.data_dir,
            ports=ports,
            hub_url=f"http://{ip}:{ports.port}/",
            gateway_url=f"http://{ip}:{ports.port}/services/dask-gateway",
            gateway_proxy_address=f"gateway://{ip}:{ports.gateway_tcp_port}",
            lake_url=f"http://{ip}:{ports.lake_port}/",
            catalog_file=layout.catalog_file,
        )
        write_session_federation(layout.lake_dir, self.info.lake_url, layout.catalog_file)
        layout.hub_config_file.write_text(hub_config.render(config, layout, ports, self.python))
        layout.gateway_config_file.write_text(gateway_config.render(config, layout, ports, self.python))

        started = time.monotonic()
        try:
            for component in self._components(ports, self.secrets, proxy):
                self.components[component.name] = component
                component.start()
                took = component.wait_healthy()
                self.out(f"  started {component.name:<24} pid {component.pid:<8} healthy in {took:.1f} s")
        except BaseException:
            self.stop(quiet=True)
            raise
        self._write_state()
        self._print_summary(time.monotonic() - started)
        return self.info

    def _print_summary(self, took: float) -> None:
        assert self.info is not None
        assert self.secrets is not None
        info = self.info
        lines = [
            f"GAIA Lab is up in {took:.1f} s (data dir {info.data_dir}):",
            f"  JupyterHub + JupyterLab  {info.hub_url}",
            f"  Dask Gateway             {info.gateway_url}  (schedulers: {info.gateway_proxy_address})",
            f"  Data lake (HTTP, Range)  {info.lake_url}",
            f"  Session catalogue        {info.catalog_file}",
            f"  Logs                     {self.layout.logs_dir}",
        ]
        if self.secrets_created and self.config.authenticator_class in hub_config.SHARED_PASSWORD_NAMES:
            lines += [
                "Passwords (shown once; kept in secrets.json, mode 0600):",
                f"  any user name + user password:  {self.secrets.user_password}",
                f"  admin ({', '.join(self.config.admin_users)}) password:  {self.secrets.admin_password}",
            ]
        lines.append("Stop with Ctrl-C (or `gaia-lab down` when started with --background).")
        self.out("\n".join(lines))

    def _write_state(self) -> None:
        assert self.info is not None
        state = {
            "pid": os.getpid(),
            "started": time.time(),
            "components": {name: c.pid for name, c in self.components.items()},
            **self.info.as_dict(),
        }
        write_private(self.layout.state_file, json.dumps(state, indent=2))

    def check(self) -> None:
        """PlatformError naming the first component that died."""
        for name, component in self.components.items():
            if component.proc is not None and component.proc.poll() is not None:
                from gaia_lab.platform.processes import log_tail

                raise PlatformError(
                    f"exited unexpectedly with code {component.proc.returncode}; last lines of {component.log}:\n"
                    + log_tail(component.log),
                    component=name,
                )

    def restart(self, name: str) -> float:
        """Stop and start one component (user servers and clusters keep running); seconds until healthy."""
        component = self.components[name]
        component.stop()
        component.start()
        took = component.wait_healthy()
        self._write_state()
        return took

    def stop_user_servers(self, timeout: float = 30.0) -> None:
        """Ask the hub to stop every user server (so kernels shut down cleanly), waiting up to timeout."""
        hub = self.components.get("jupyterhub")
        if self.info is None or self.secrets is None or hub is None or not hub.alive():
            return
        api = f"http://{self.config.ip}:{self.info.ports.hub_port}/hub/api"
        token = self.secrets.platform_token

        def call(method: str, path: str) -> Any:
            request = urllib.request.Request(api + path, method=method, headers={"Authorization": f"token {token}"})
            with urllib.request.urlopen(request, timeout=10) as response:
                body = response.read()
            return json.loads(body) if body else None

        deadline = time.monotonic() + timeout
        try:
            users = call("GET", "/users?state=active") or []
            for user in users:
                for server_name in user.get("servers") or {}:
                    suffix = f"/servers/{server_name}" if server_name else "/server"
                    with contextlib.suppress(OSError):
                        call("DELETE", f"/users/{user['name']}{suffix}")
            while time.monotonic() < deadline and (call("GET", "/users?state=active") or []):
                time.sleep(0.5)
        except (OSError, ValueError):
            pass  # the sweep below stops whatever the hub could not

    def stop(self, *, quiet: bool = False) -> None:
        """Stop everything this platform started, user servers and clusters included; never raises."""
        self.stop_user_servers()
        for name in ("jupyterhub", "dask-gateway", "configurable-http-proxy", "lake"):
            component = self.components.get(name)
            if component is not None:
                component.stop()
                if not quiet:
                    self.out(f"  stopped {name}")
        leftovers = sweep(str(self.layout.data_dir))
        if leftovers and not quiet:
            self.out(f"  stopped {len(leftovers)} leftover process(es)")
        with contextlib.suppress(FileNotFoundError):
            state = json.loads(self.layout.state_file.read_text())
            if state.get("pid") == os.getpid():
                self.layout.state_file.unlink()
        self.components.clear()

    def run_forever(self, poll: float = 1.0) -> None:
        """Block until SIGINT/SIGTERM (then stop everything) or a component dies (stop, then raise)."""
        stopping = False

        def handler(signum: int, frame: FrameType | None) -> None:
            nonlocal stopping
            stopping = True

        previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            while not stopping:
                self.check()
                time.sleep(poll)
            self.out("Stopping GAIA Lab ...")
        finally:
            # Ignore a second Ctrl-C while stopping, or the stop itself would be interrupted and leave orphans.
            for sig in previous:
                signal.signal(sig, signal.SIG_IGN)
            try:
                self.stop()
            finally:
                for sig, old in previous.items():
                    signal.signal(sig, old)


def read_state(data_dir: Path) -> dict[str, Any] | None:
    """The state of a live supervisor for this data dir, or None (none, or a stale pid file)."""
    path = Layout(data_dir, data_dir / "lake").state_file
    try:
        state: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    from gaia_lab.platform.processes import pid_alive

    if not pid_alive(int(state.get("pid", 0))):
        return None
    return state
