"""Where each piece of platform state lives inside the data directory, and the ports in use."""

from __future__ import annotations

import errno
import socket
from dataclasses import asdict, dataclass
from pathlib import Path

from gaia_lab.errors import PlatformError
from gaia_lab.platform.config import PlatformConfig


@dataclass(frozen=True)
class Layout:
    data_dir: Path
    lake_dir: Path

    @property
    def hub_dir(self) -> Path:
        return self.data_dir / "hub"

    @property
    def gateway_dir(self) -> Path:
        return self.data_dir / "gateway"

    @property
    def homes_dir(self) -> Path:
        return self.data_dir / "homes"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def catalog_file(self) -> Path:
        return self.data_dir / "catalog" / "federation.yaml"

    @property
    def state_file(self) -> Path:
        # Written by a running supervisor: its pid, the ports and URLs; `status` and `down` read it.
        return self.data_dir / "platform.pid"

    @property
    def hub_config_file(self) -> Path:
        return self.hub_dir / "jupyterhub_config.py"

    @property
    def gateway_config_file(self) -> Path:
        return self.gateway_dir / "dask_gateway_config.py"

    def make(self) -> None:
        for path in (self.data_dir, self.hub_dir, self.gateway_dir, self.homes_dir, self.logs_dir):
            path.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)  # the hub and gateway databases hold tokens and cluster credentials
        (self.gateway_dir / "clusters").mkdir(exist_ok=True)
        self.catalog_file.parent.mkdir(exist_ok=True)

    @classmethod
    def from_config(cls, config: PlatformConfig) -> Layout:
        return cls(config.resolved_data_dir(), config.resolved_lake_dir())


@dataclass(frozen=True)
class Ports:
    port: int
    hub_port: int
    proxy_api_port: int
    gateway_port: int
    gateway_tcp_port: int
    gateway_api_port: int
    lake_port: int

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
        value = int(getattr(config, name))
        if value == 0:
            value = free_port(config.ip)
            while value in chosen.values():
                value = free_port(config.ip)
        else:
            check_port(config.ip, value, name)
        chosen[name] = value
    return Ports(**chosen)
