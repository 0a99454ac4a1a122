"""The supervisor: starts lake server, proxy, gateway and hub in order, watches them, stops them all.

Order matters: the hub waits ~28 s at start-up for a registered service URL that does not answer yet, so the
gateway starts (and answers) before the hub. The pieces: components.py builds the command lines, hubapi.py talks to
the hub, console.py writes what the operator reads, runloop.py waits for Ctrl-C; this module runs the lifecycle.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gaia_lab.errors import PlatformError
from gaia_lab.platform import components, console, gateway_config, hub_config, prepare
from gaia_lab.platform.accounts import Accounts, stop_processes_of
from gaia_lab.platform.config import PlatformConfig
from gaia_lab.platform.federation import write_session_federation
from gaia_lab.platform.hubapi import HubAPI
from gaia_lab.platform.layout import Layout, Ports, resolve_ports
from gaia_lab.platform.processes import Component, log_tail, pid_alive, sweep, wait_all_healthy
from gaia_lab.platform.runloop import run_until_stopped
from gaia_lab.platform.secrets import Secrets, load_or_create, write_private

# Components started once the data servers, the proxy and the gateway are healthy (by name).
_SERVICES = frozenset({"processes", "openeo", "stac", "portal"})


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
    opendap_url: str = ""
    prometheus_url: str = ""  # gaia-lab up --metrics
    processes_url: str = ""
    openeo_url: str = ""
    stac_url: str = ""
    portal_url: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "data_dir": str(self.data_dir),
            "ports": self.ports.as_dict(),
            "hub_url": self.hub_url,
            "gateway_url": self.gateway_url,
            "gateway_proxy_address": self.gateway_proxy_address,
            "lake_url": self.lake_url,
            "catalog_file": str(self.catalog_file),
            "opendap_url": self.opendap_url,
            "prometheus_url": self.prometheus_url,
            "processes_url": self.processes_url,
            "openeo_url": self.openeo_url,
            "stac_url": self.stac_url,
            "portal_url": self.portal_url,
        }


class Platform:
    """The running platform. ``start()`` returns once every component is healthy; ``stop()`` stops them all."""

    def __init__(self, config: PlatformConfig, *, out: Callable[[str], None] = print) -> None:
        config.check()
        self.config = config
        self.out = out
        self.layout = Layout.from_config(config)
        # The platform's own processes run with this interpreter; sessions, schedulers and workers with `python`.
        self.python = sys.executable
        self.session_python = config.python or sys.executable
        self.components: dict[str, Component] = {}
        self.secrets: Secrets | None = None
        self.info: PlatformInfo | None = None
        self.secrets_created = False
        self.hpc: Any = None  # hpc_gateway.Prepared with --slurm

    @property
    def system_accounts(self) -> bool:
        return self.layout.shared_dir is not None

    @property
    def accounts(self) -> Accounts | None:
        """The system accounts of this platform's users (None in single-user mode)."""
        if not self.system_accounts:
            return None
        return Accounts(self.config.account_prefix, self.layout.homes_dir, self.layout.accounts_lock)

    def start(self) -> PlatformInfo:
        layout, config = self.layout, self.config
        self.out(console.mode_line(config, layout))
        layout.make()
        running = read_state(layout.data_dir)
        if running is not None:
            raise PlatformError(
                f"already running (pid {running['pid']}) from {layout.data_dir}; use `gaia-lab status` or "
                "`gaia-lab down`",
                component="supervisor",
            )
        # A previous run that crashed may have left user servers or clusters behind.
        leftovers = self._sweep()
        if leftovers:
            self.out(f"Stopped {len(leftovers)} process(es) left over from a previous run.")
        proxy = components.find_proxy(config, layout)
        self.secrets, self.secrets_created = load_or_create(
            layout.data_dir, user_password=config.user_password, admin_password=config.admin_password
        )
        prepare.ensure_lake(layout.lake_dir, self.out)
        if self.system_accounts:
            prepare.check_session_python(self.session_python)
            prepare.check_shared_dir([layout.homes_dir, layout.clusters_dir, layout.catalog_file.parent])
            prepare.check_lake(layout.lake_dir)
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
        catalogue_components, catalogue_providers = self._metadata_catalogues(ports)
        opendap_components, opendap_providers = self._opendap(ports)
        if config.s3:
            from gaia_lab.platform import s3_server

            s3_components, s3_providers = s3_server.prepare(layout, ip, ports, self.python)
            catalogue_components += s3_components
            catalogue_providers += s3_providers
        write_session_federation(
            layout.lake_dir, self.info.lake_url, layout.catalog_file, [*catalogue_providers, *opendap_providers]
        )
        if self.system_accounts:
            layout.catalog_file.chmod(0o644)  # every session reads it
        metrics_secrets = None
        if config.metrics:
            from gaia_lab.platform import metrics

            metrics_secrets = metrics.load_or_create_secrets(layout)
            self.info = replace(self.info, prometheus_url=metrics.prometheus_url(ip, ports) + "/")
        layout.hub_config_file.write_text(
            hub_config.render(config, layout, ports, self.session_python, hub_python=self.python)
            + ("\n".join(metrics.hub_config_lines()) if metrics_secrets else "")
        )
        layout.gateway_config_file.write_text(gateway_config.render(config, layout, ports, self.session_python))

        started = time.monotonic()
        try:
            built = components.build(config, layout, ports, self.secrets, proxy, self.python)
            built = self._with_processes(built, ports)
            built = self._with_openeo(built, ports)
            built = self._with_stac(built, ports)
            built = self._with_portal(built, ports)
            hub = built[-1]
            hpc_components = self._hpc(ports, hub)
            metrics_components = (
                self._metrics(built, ports, metrics_secrets, [*catalogue_providers, *opendap_providers])
                if metrics_secrets is not None
                else []
            )
            servers = [built[0], *opendap_components, *catalogue_components, *built[1:-1]]
            services = [c for c in servers if c.name in _SERVICES]
            # Started together, each phase once the previous one is healthy: the data servers, the proxy and the
            # gateway; then the services (which reach those only when asked) and the hub (which needs the proxy).
            # Slurm's daemons depend on each other and the hub on the HPC gateway's token, the metrics scrape the
            # hub: those one at a time.
            phases = [[c for c in servers if c not in services], [*services, *([] if hpc_components else [hub])]]
            phases += [[c] for c in [*hpc_components, *([hub] if hpc_components else []), *metrics_components]]
            for phase in phases:
                self._start_together(phase)
            if config.warm_processes:
                # Not waited for: its imports would only slow the other starts down; until it listens, servers start
                # the usual way.
                warm = components.warm_sessions(layout, self.session_python)
                self.components[warm.name] = warm
                warm.start()
                self.out(f"  starting {warm.name:<23} pid {warm.pid:<8} (JupyterLab servers fork from it once ready)")
        except BaseException:
            self.stop(quiet=True)
            raise
        self._write_state()
        took = time.monotonic() - started
        self.out(console.summary(self.info, layout, config, self.secrets, took=took, new_secrets=self.secrets_created))
        if self.hpc is not None:
            from gaia_lab.platform.hpc_gateway import PREFIX

            where = "this machine's own Slurm" if self.hpc.local_slurm else "the site's Slurm"
            self.out(
                f"  HPC Dask Gateway ({where}, slurm.conf {self.hpc.slurm_conf}): "
                f'{self.info.hub_url.rstrip("/")}{PREFIX} (gl.cluster(profile="hpc"))'
            )
        if self.info.prometheus_url:
            self.out(
                f"  Prometheus {self.info.prometheus_url} (user gaia-lab, password: prometheus_password in "
                f"{layout.data_dir / 'metrics' / 'secrets.json'})"
            )
        return self.info

    def _start_together(self, phase: list[Component]) -> None:
        for component in phase:
            self.components[component.name] = component
            component.start()
        took = wait_all_healthy(phase)
        for component in sorted(phase, key=lambda c: took[c.name]):
            self.out(f"  started {component.name:<24} pid {component.pid:<8} healthy in {took[component.name]:.1f} s")

    def _hpc(self, ports: Ports, hub: Component) -> list[Component]:
        """With --slurm: the platform's Slurm (unless the config names a site's) and the HPC gateway; the hub gets
        the HPC gateway's service token."""
        if not self.config.slurm:
            return []
        from gaia_lab.platform import hpc_gateway

        self.hpc = hpc_gateway.prepare(
            self.config,
            self.layout,
            ports,
            self.session_python,
            self.python,
            components.base_env(self.layout, self.python),
        )
        hub.env = {**hub.env, **self.hpc.hub_env}
        return list(self.hpc.components)

    def _cancel_slurm_jobs(self) -> None:
        """Cancel the jobs of this platform's HPC clusters the HPC gateway left (crashed, or killed at its stop)."""
        if self.hpc is None:
            return
        from gaia_lab.platform.slurm import cancel_jobs

        try:
            cancelled = cancel_jobs(self.hpc.job_comment, {"SLURM_CONF": self.hpc.slurm_conf})
        except (PlatformError, OSError, subprocess.SubprocessError) as exc:
            self.out(f"  could not cancel the platform's Slurm jobs: {exc}")
            return
        if cancelled:
            self.out(f"  cancelled {len(cancelled)} leftover Slurm job(s)")

    def _metadata_catalogues(self, ports: Ports) -> tuple[list[Component], list[dict[str, Any]]]:
        """The CSW and Records services of the hubs that publish ISO records, when their servers are installed."""
        from gaia_lab.platform import catalogues  # pystac and lxml: only when starting

        assert self.info is not None
        servers, why_not = catalogues.find_servers(self.config)
        if servers is None:
            self.out(f"  no CSW / OGC API - Records services: {why_not}")
            return [], []
        return catalogues.prepare(servers, self.layout, self.config.ip, ports, self.info.lake_url)

    def _metrics(
        self, built: list[Component], ports: Ports, secrets: Any, providers: list[dict[str, Any]]
    ) -> list[Component]:
        """Prometheus and the exporter (started last); the hub and the gateway get the tokens they check."""
        from gaia_lab.platform import metrics

        assert self.info is not None
        for component in built:
            if component.name == "jupyterhub":
                component.env = {**component.env, **metrics.hub_env(secrets)}
            elif component.name == "dask-gateway":
                component.env = {**component.env, **metrics.gateway_env(secrets)}
        # The catalogue services expose no metrics: the exporter probes them (up, latency).
        probes = {"lake": f"{self.info.lake_url}_health"}
        if self.info.opendap_url:
            probes["opendap"] = f"{self.info.opendap_url}_health"
        for provider in providers:
            if provider["type"] == "csw" and "csw" not in probes:
                probes["csw"] = f"{provider['url']}?service=CSW&request=GetCapabilities"
            elif provider["type"] == "ogcapi-records" and "records" not in probes:
                probes["records"] = f"{provider['url']}collections?f=json"
        return metrics.prepare(self.config, self.layout, ports, self.python, secrets, probes)

    def _opendap(self, ports: Ports) -> tuple[list[Component], list[dict[str, Any]]]:
        """The OPeNDAP server of the lake's NetCDF files and the hubs' OPeNDAP catalogues, unless switched off."""
        if not self.config.opendap:
            return [], []
        if importlib.util.find_spec("pydap") is None or importlib.util.find_spec("werkzeug") is None:
            self.out("  no OPeNDAP server: pydap is not installed (pip install 'gaia-lab[opendap-server]')")
            return [], []
        from gaia_lab.platform import opendap  # pydap and pystac: only when starting

        assert self.info is not None
        components, providers = opendap.prepare(self.layout, self.config.ip, ports, self.python)
        if components:
            self.info = replace(self.info, opendap_url=opendap.opendap_url(self.config.ip, ports) + "/")
        return components, providers

    def _with_processes(self, built: list[Component], ports: Ports) -> list[Component]:
        """OGC API - Processes between the gateway and the hub (the hub waits for its registered services' URLs);
        the hub gets the service's token."""
        from gaia_lab.platform import processes_service

        if not processes_service.enabled(self.config):
            if self.config.processes:
                self.out("  no OGC API - Processes: pygeoapi is not installed (pip install 'gaia-lab[processes]')")
            return built
        component, hub_env = processes_service.prepare(self.config, self.layout, ports, self.python)
        *others, hub = built
        assert self.info is not None
        self.info = replace(self.info, processes_url=processes_service.public_url(self.config.ip, ports) + "/")
        return [*others, component, replace(hub, env={**hub.env, **hub_env})]

    def _with_stac(self, built: list[Component], ports: Ports) -> list[Component]:
        """The federation's STAC API before the hub (the hub waits for its registered services' URLs); the hub gets
        the service's token."""
        from gaia_lab.platform import stac_service

        if not stac_service.enabled(self.config):
            if self.config.stac:
                self.out("  no STAC API: stac-fastapi is not installed (pip install 'gaia-lab[stac-api]')")
            return built
        component, hub_env = stac_service.prepare(self.config, self.layout, ports, self.python)
        *others, hub = built
        assert self.info is not None
        self.info = replace(self.info, stac_url=stac_service.public_url(self.config.ip, ports))
        return [*others, component, replace(hub, env={**hub.env, **hub_env})]

    def _with_portal(self, built: list[Component], ports: Ports) -> list[Component]:
        """The discovery portal before the hub (the hub waits for its registered services' URLs); the hub gets the
        service's token."""
        from gaia_lab.platform import portal_service

        if not self.config.portal:
            return built
        missing = portal_service.missing()
        if missing:
            self.out(f"  no discovery portal: {missing}")
            return built
        component, hub_env = portal_service.prepare(self.config, self.layout, ports, self.python)
        *others, hub = built
        assert self.info is not None
        self.info = replace(self.info, portal_url=portal_service.public_url(self.config.ip, ports))
        return [*others, component, replace(hub, env={**hub.env, **hub_env})]

    def _with_openeo(self, built: list[Component], ports: Ports) -> list[Component]:
        """The openEO API, before the hub, once OGC API - Processes (which runs its graphs) is in."""
        from gaia_lab.platform import openeo_service

        assert self.info is not None
        if not (self.config.openeo and self.info.processes_url):
            return built
        missing = openeo_service.missing()
        if missing:
            self.out(f"  no openEO API: {missing}")
            return built
        component = openeo_service.prepare(self.config, self.layout, ports, self.info.processes_url, self.python)
        self.info = replace(self.info, openeo_url=openeo_service.url(self.config.ip, ports))
        *others, hub = built
        return [*others, component, hub]

    def _write_state(self) -> None:
        assert self.info is not None
        state = {
            "pid": os.getpid(),
            "started": time.time(),
            "components": {name: c.pid for name, c in self.components.items()},
            "user_accounts": "system" if self.system_accounts else "shared",
            "account_prefix": self.config.account_prefix,
            "homes_dir": str(self.layout.homes_dir),
            **self.info.as_dict(),
            # `down` cancels the HPC clusters' Slurm jobs even after a crash of this supervisor.
            **({"slurm_conf": self.hpc.slurm_conf, "slurm_job_comment": self.hpc.job_comment} if self.hpc else {}),
        }
        write_private(self.layout.state_file, json.dumps(state, indent=2))

    def check(self) -> None:
        """PlatformError naming the first component that died. An optional one (the sessions' warm process) is
        dropped with a message instead: servers then start the usual way."""
        for name, component in list(self.components.items()):
            if component.proc is None or component.proc.poll() is None:
                continue
            if name in components.OPTIONAL:
                self.out(
                    f"  {name} exited with code {component.proc.returncode} (its work is done the usual way from "
                    f"now on); last lines of {component.log}:\n" + log_tail(component.log)
                )
                del self.components[name]
                continue
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
        api = HubAPI(f"http://{self.config.ip}:{self.info.ports.hub_port}/hub/api", self.secrets.platform_token)
        with contextlib.suppress(OSError, ValueError):  # the sweep stops whatever the hub could not
            api.stop_all_servers(timeout)

    def _sweep(self) -> list[int]:
        """Stop what is left: processes carrying the platform marker, and every process of its accounts (a user's
        process may have dropped the marker from its environment, it cannot drop its uid)."""
        stopped = sweep(str(self.layout.data_dir))
        accounts = self.accounts
        if accounts is not None:
            stopped += stop_processes_of(accounts.uids())
        return stopped

    def stop(self, *, quiet: bool = False) -> None:
        """Stop everything this platform started, user servers and clusters included; never raises."""
        self.stop_user_servers()
        for name in reversed(components.ORDER):
            component = self.components.get(name)
            if component is not None:
                component.stop()
                if not quiet:
                    self.out(f"  stopped {name}")
            if name == "dask-gateway-hpc":
                self._cancel_slurm_jobs()
        try:
            leftovers = self._sweep()
        except PlatformError as exc:
            self.out(f"  {exc}")
            leftovers = []
        if leftovers and not quiet:
            self.out(f"  stopped {len(leftovers)} leftover process(es)")
        with contextlib.suppress(FileNotFoundError):
            state = json.loads(self.layout.state_file.read_text())
            if state.get("pid") == os.getpid():
                self.layout.state_file.unlink()
        self.components.clear()

    def run_forever(self, poll: float = 1.0) -> None:
        """Block until SIGINT/SIGTERM (then stop everything) or a component dies (stop, then raise)."""
        run_until_stopped(self, poll)


def read_state(data_dir: Path) -> dict[str, Any] | None:
    """The state of a live supervisor for this data dir, or None (none, or a stale pid file)."""
    state = read_state_file(data_dir)
    if state is None or not pid_alive(int(state.get("pid", 0))):
        return None
    return state


def read_state_file(data_dir: Path) -> dict[str, Any] | None:
    """The last state a supervisor wrote for this data dir, alive or not."""
    try:
        state: dict[str, Any] = json.loads(Layout(data_dir, data_dir / "lake").state_file.read_text())
    except (OSError, ValueError):
        return None
    return state
