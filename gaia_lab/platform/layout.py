"""Where each piece of platform state lives, who may enter it, and the ports in use.

The data directory (databases, secrets, logs) belongs to the account running the platform, mode 0700. With system
accounts, what those accounts need lives in a separate shared directory, mode 0711 (entered, not listed):
``homes/`` (0711; each home 0700, its account's), ``catalog/`` (the session catalogue, world-readable),
``clusters/`` (0711; each Dask cluster's working directory 0700, its account's) and, by default, the demo lake.
Without system accounts all of it stays in the data directory.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
from dataclasses import asdict, dataclass
from pathlib import Path

from gaia_lab.errors import PlatformError
from gaia_lab.platform.config import PlatformConfig


@dataclass(frozen=True)
class Layout:
    data_dir: Path
    lake_dir: Path
    shared_dir: Path | None = None  # set with system accounts

    @property
    def hub_dir(self) -> Path:
        return self.data_dir / "hub"

    @property
    def gateway_dir(self) -> Path:
        return self.data_dir / "gateway"

    @property
    def homes_dir(self) -> Path:
        return (self.shared_dir or self.data_dir) / "homes"

    @property
    def clusters_dir(self) -> Path:
        return self.shared_dir / "clusters" if self.shared_dir else self.gateway_dir / "clusters"

    @property
    def accounts_lock(self) -> Path:
        return self.data_dir / "accounts.lock"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def catalog_file(self) -> Path:
        return (self.shared_dir or self.data_dir) / "catalog" / "federation.yaml"

    @property
    def state_file(self) -> Path:
        # Written by a running supervisor: its pid, the ports and URLs; `status` and `down` read it.
        return self.data_dir / "platform.pid"

    @property
    def hub_config_file(self) -> Path:
        return self.hub_dir / "jupyterhub_config.py"

    @property
    def warm_sessions_socket(self) -> Path:
        # The hub's spawner asks the process here to fork JupyterLab servers (gaia_lab.platform.warm_processes).
        return self.hub_dir / "warm-sessions.sock"

    @property
    def gateway_config_file(self) -> Path:
        return self.gateway_dir / "dask_gateway_config.py"

    def make(self) -> None:
        for path in (self.data_dir, self.hub_dir, self.gateway_dir, self.logs_dir):
            path.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)  # the hub and gateway databases hold tokens and cluster credentials
        if self.shared_dir is None:
            for path in (self.homes_dir, self.clusters_dir, self.catalog_file.parent):
                path.mkdir(exist_ok=True)
            return
        self.shared_dir.mkdir(parents=True, exist_ok=True)
        _owned_directory(self.shared_dir, 0o711)
        for path, mode in ((self.homes_dir, 0o711), (self.clusters_dir, 0o711), (self.catalog_file.parent, 0o755)):
            path.mkdir(exist_ok=True)
            _owned_directory(path, mode)

    @classmethod
    def from_config(cls, config: PlatformConfig) -> Layout:
        shared = config.resolved_shared_dir() if config.accounts_mode() == "system" else None
        return cls(config.resolved_data_dir(), config.resolved_lake_dir(), shared)


def _owned_directory(path: Path, mode: int) -> None:
    """A directory of the platform's account (not a link, nobody else's), set to ``mode``."""
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode):
        raise PlatformError(f"{path} is not a directory (a link or a file)", component="accounts")
    if info.st_uid != os.geteuid():
        raise PlatformError(
            f"{path} belongs to uid {info.st_uid}, not to the platform's account (uid {os.geteuid()}): another "
            "account could change what users see there; remove it or choose another shared_dir",
            component="accounts",
        )
    path.chmod(mode)


def unreachable(path: Path) -> str | None:
    """Why an account other than the platform's cannot reach ``path`` (a directory on the way without o+x, or the
    file itself without o+r/o+x), following links; None when it can."""
    current = Path("/")
    parts = Path(os.path.abspath(path)).parts[1:]
    seen = 0
    index = 0
    while index < len(parts):
        candidate = current / parts[index]
        try:
            info = candidate.lstat()
        except OSError as exc:
            return f"{candidate}: {exc.strerror}"
        if stat.S_ISLNK(info.st_mode):
            seen += 1
            if seen > 40:
                return f"{candidate}: too many links"
            target = Path(os.readlink(candidate))
            rest = parts[index + 1 :]
            resolved = target if target.is_absolute() else current / target
            parts = Path(os.path.normpath(resolved)).parts[1:] + rest
            current, index = Path("/"), 0
            continue
        last = index == len(parts) - 1
        if stat.S_ISDIR(info.st_mode) and not info.st_mode & stat.S_IXOTH:
            return f"{candidate} is mode {stat.S_IMODE(info.st_mode):04o}: other accounts cannot enter it"
        if last and stat.S_ISREG(info.st_mode) and not info.st_mode & (stat.S_IROTH | stat.S_IXOTH):
            return f"{candidate} is mode {stat.S_IMODE(info.st_mode):04o}: other accounts cannot read it"
        current = candidate
        index += 1
    return None


@dataclass(frozen=True)
class Ports:
    port: int
    hub_port: int
    proxy_api_port: int
    gateway_port: int
    gateway_tcp_port: int
    gateway_api_port: int
    lake_port: int
    csw_port: int
    records_port: int
    opendap_port: int
    s3_port: int = 0  # the S3 server (gaia-lab up --s3)
    hpc_gateway_port: int = 0  # the HPC gateway (gaia-lab up --slurm)
    hpc_gateway_tcp_port: int = 0
    hpc_gateway_api_port: int = 0
    prometheus_port: int = 0  # gaia-lab up --metrics
    metrics_port: int = 0  # the GAIA Lab exporter (--metrics)
    processes_port: int = 0  # OGC API - Processes (processes = True)
    openeo_port: int = 0  # the openEO API (openeo = True)
    stac_port: int = 0  # the federation's STAC API (stac = True)
    portal_port: int = 0  # the discovery portal (portal = True)

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


# Which component owns each port, so a clash names what could not start.
PORT_OWNERS = {
    "port": "configurable-http-proxy",
    "proxy_api_port": "configurable-http-proxy",
    "hub_port": "jupyterhub",
    "gateway_port": "dask-gateway",
    "gateway_tcp_port": "dask-gateway",
    "gateway_api_port": "dask-gateway",
    "lake_port": "lake",
    "csw_port": "csw",
    "records_port": "records",
    "opendap_port": "opendap",
    "s3_port": "s3",
    "hpc_gateway_port": "dask-gateway-hpc",
    "hpc_gateway_tcp_port": "dask-gateway-hpc",
    "hpc_gateway_api_port": "dask-gateway-hpc",
    "prometheus_port": "prometheus",
    "metrics_port": "metrics-exporter",
    "processes_port": "processes",
    "openeo_port": "openeo",
    "stac_port": "stac",
    "portal_port": "portal",
}


def free_port(ip: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((ip, 0))
        port: int = sock.getsockname()[1]
        return port


def check_port(ip: str, port: int, name: str) -> None:
    with socket.socket() as sock:
        # Without SO_REUSEADDR a port in TIME_WAIT after our own restart would look taken.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((ip, port))
        except OSError as exc:
            why = "is already in use" if exc.errno == errno.EADDRINUSE else f"cannot be bound ({exc.strerror})"
            raise PlatformError(
                f"port {port} on {ip} ({name}) {why}; stop what uses it (`ss -ltnp 'sport = :{port}'`) "
                f"or choose another port in the platform config",
                component=PORT_OWNERS.get(name, name),
            ) from None


def resolve_ports(config: PlatformConfig) -> Ports:
    """Ports from the config, a free port for each 0, all checked to be bindable now."""
    chosen: dict[str, int] = {}
    for name in PORT_OWNERS:
        if (name == "s3_port" and not config.s3) or (name.startswith("hpc_") and not config.slurm):
            chosen[name] = 0  # no S3 server, no HPC gateway: their ports need not be free
            continue
        if name in ("prometheus_port", "metrics_port") and not config.metrics:
            chosen[name] = 0
            continue
        if name == "processes_port" and not config.processes:
            chosen[name] = 0
            continue
        if name == "openeo_port" and not (config.openeo and config.processes):
            chosen[name] = 0
            continue
        if name == "stac_port" and not config.stac:
            chosen[name] = 0
            continue
        if name == "portal_port" and not config.portal:
            chosen[name] = 0
            continue
        value = int(getattr(config, name))
        if value == 0:
            value = free_port(config.ip)
            while value in chosen.values():
                value = free_port(config.ip)
        else:
            check_port(config.ip, value, name)
        chosen[name] = value
    return Ports(**chosen)
