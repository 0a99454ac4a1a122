"""PlatformConfig: every setting of `gaia-lab up`, with its default, loadable from a YAML or Python file.

A Python config file is a traitlets config file (``c.PlatformConfig.port = 8000``), as for JupyterHub and
dask-gateway. A YAML file holds the same trait names, either at the top level or under ``PlatformConfig:``.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Any

import yaml
from traitlets import Bool, Dict, Float, Integer, List, TraitError, Unicode, validate
from traitlets.config import Config, Configurable
from traitlets.config.loader import ConfigFileNotFound, PyFileConfigLoader

from gaia_lab.errors import ConfigError
from gaia_lab.platform import spec

_MEMORY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B?|B)?\s*$", re.IGNORECASE)
_DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")
_UNITS = {"": 1, "b": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12}


# Every port the platform listens on (a config trait each; 0 picks a free one).
PORT_NAMES = (
    "port",
    "hub_port",
    "proxy_api_port",
    "gateway_port",
    "gateway_tcp_port",
    "gateway_api_port",
    "lake_port",
    "csw_port",
    "records_port",
    "opendap_port",
    "s3_port",
    "hpc_gateway_port",
    "hpc_gateway_tcp_port",
    "hpc_gateway_api_port",
    "prometheus_port",
    "metrics_port",
    "processes_port",
    "openeo_port",
    "stac_port",
    "portal_port",
)


def parse_memory(value: str | float | int) -> int:
    """Bytes from ``"2 GiB"``, ``"512M"``, ``"4G"`` or a number of bytes."""
    if isinstance(value, int | float):
        return int(value)
    match = _MEMORY.match(value)
    if not match:
        raise ValueError(f"{value!r} is not a memory size (e.g. '2 GiB', '512 MiB')")
    number, unit = match.group(1), (match.group(2) or "").lower()
    binary = "i" in unit
    letter = unit[:1]
    factor = (1024 ** "bkmgt".index(letter)) if binary else _UNITS[letter]
    return int(float(number) * factor)


_LIMITS = spec.DEFAULT_CLUSTER_LIMITS
ACCOUNT_MODES = ("auto", "system", "shared")
ACCOUNT_PREFIX = re.compile(r"^[a-z][a-z0-9-]{0,15}$")
DEFAULT_SHARED_DIR = Path("/srv/gaia-lab")


def _gib(value: float) -> str:
    return f"{value:g} GiB"


def default_data_dir() -> Path:
    """``$GAIA_LAB_DATA_DIR``, else ``$XDG_DATA_HOME/gaia-lab/platform`` (``~/.local/share/gaia-lab/platform``)."""
    if env := os.environ.get("GAIA_LAB_DATA_DIR"):
        return Path(env).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home).expanduser() / "gaia-lab" / "platform"


def is_loopback(ip: str) -> bool:
    if ip == "localhost":
        return True
    try:
        return ipaddress.ip_address(ip).is_loopback
    except ValueError:
        return False


class PlatformConfig(Configurable):
    """Settings of the one-machine platform. Port 0 means "pick a free port at start-up"."""

    data_dir = Unicode(
        "",
        help="Directory holding all state: hub and gateway databases, secrets, logs (and homes and lake without "
        "system accounts); only the platform's account may enter it. "
        "Default: $GAIA_LAB_DATA_DIR, else ~/.local/share/gaia-lab/platform.",
    ).tag(config=True)
    lake_dir = Unicode(
        "",
        help="Demo data lake served over HTTP. Default: <data_dir>/lake, with system accounts <shared_dir>/lake "
        "(built if missing).",
    ).tag(config=True)
    ip = Unicode("127.0.0.1", help="Address every component listens on. Non-loopback needs explicit passwords.").tag(
        config=True
    )
    port = Integer(8000, help="Public port: configurable-http-proxy (JupyterHub, the gateway API).").tag(config=True)
    hub_port = Integer(8081, help="JupyterHub's own port, behind the proxy.").tag(config=True)
    proxy_api_port = Integer(8001, help="configurable-http-proxy REST API port.").tag(config=True)
    gateway_port = Integer(8002, help="dask-gateway HTTP proxy port (reached as /services/dask-gateway).").tag(
        config=True
    )
    gateway_tcp_port = Integer(8003, help="dask-gateway scheduler (TLS over TCP) proxy port.").tag(config=True)
    gateway_api_port = Integer(8004, help="dask-gateway private API port.").tag(config=True)
    lake_port = Integer(8005, help="Lake HTTP server port (static files, Range requests).").tag(config=True)
    csw_port = Integer(8006, help="OGC CSW port (pycsw): the ODATIS and AERIS hubs' ISO 19139 records.").tag(
        config=True
    )
    records_port = Integer(8007, help="OGC API - Records port (pygeoapi): the same records as GeoJSON.").tag(
        config=True
    )
    opendap_port = Integer(8010, help="OPeNDAP (DAP2) port: the lake's NetCDF files, subsets read on the server.").tag(
        config=True
    )
    opendap = Bool(
        True,
        help="Serve the lake's NetCDF files over OPeNDAP and add the hubs' OPeNDAP catalogues (<hub>-opendap) to the "
        "sessions' federation.",
    ).tag(config=True)
    processes_port = Integer(
        8013, help="OGC API - Processes port (pygeoapi), reached through the hub as /services/gaia-lab-processes/."
    ).tag(config=True)
    processes = Bool(
        True,
        help="Serve OGC API - Processes (the processes of gaia_lab.processing, each job on the requesting user's "
        "Dask Gateway cluster) as the hub service gaia-lab-processes.",
    ).tag(config=True)
    processes_workers = Integer(2, help="Workers of a user's processing cluster.").tag(config=True)
    processes_worker_cores = Integer(
        1, help="Cores of each worker of a user's processing cluster (at most worker_cores_max)."
    ).tag(config=True)
    processes_worker_memory = Unicode(
        "1 GiB", help="Memory of each worker of a user's processing cluster (at most worker_memory_max)."
    ).tag(config=True)
    processes_idle_timeout = Float(
        120.0, help="Seconds a user's processing cluster stays up with no job before it is shut down."
    ).tag(config=True)
    processes_max_duration = Float(600.0, help="Longest a processing job may run (seconds).").tag(config=True)
    processes_max_output_size = Unicode("2 GiB", help="Largest result a processing job may write.").tag(config=True)
    processes_max_jobs = Integer(4, help="Jobs a user may have running at once.").tag(config=True)
    processes_worker_environment = Dict(
        value_trait=Unicode(), help="Environment variables of the processing clusters' workers."
    ).tag(config=True)
    openeo_port = Integer(8014, help="openEO API port (openeo-driver; graphs run as OGC API - Processes jobs).").tag(
        config=True
    )
    openeo = Bool(
        True,
        help="Serve the openEO API (with OGC API - Processes, the openEO graph runtime and .venv-openeo-api installed: "
        "scripts/install-openeo-runtime.sh, scripts/install-openeo-api.sh).",
    ).tag(config=True)
    stac_port = Integer(
        8018, help="The federation's STAC API port, reached through the hub as /services/gaia-lab-stac/."
    ).tag(config=True)
    stac = Bool(
        True,
        help="Serve the sessions' federation as one STAC API (stac-fastapi), with each user's starred datasets, as "
        "the hub service gaia-lab-stac.",
    ).tag(config=True)
    portal_port = Integer(
        8019,
        help="The discovery portal's port (maps, search, Open in JupyterLab), reached as /services/gaia-lab-portal/.",
    ).tag(config=True)
    portal = Bool(
        True,
        help="Serve the discovery portal (the hub service gaia-lab-portal) and the JupyterLab launcher's GAIA Lab "
        "section.",
    ).tag(config=True)
    tutorials = Bool(
        True,
        help="Without a workshop folder, give every new user the tutorial notebooks (the checkout's notebooks/): "
        "read-only in ~/workshop, a writable copy in ~/my-workshop.",
    ).tag(config=True)
    portal_stac_api_url = Unicode(
        "",
        help="The STAC API the portal's pages browse and star datasets in (the browser calls it). Default: the "
        "platform's federation API, /services/gaia-lab-stac/ on the hub's own origin.",
    ).tag(config=True)
    s3_port = Integer(8008, help="S3 server port (moto's S3 + IAM server; with s3 = True).").tag(config=True)
    s3 = Bool(
        False,
        help="Run an S3 server (`gaia-lab up --s3`), publish the lake to a public and a private bucket, give every "
        "session an access key of its own (GAIA_LAB_S3_ACCESS_KEY_ID / _SECRET_ACCESS_KEY) and the providers "
        "lake-public and lake-private in its federation.",
    ).tag(config=True)
    slurm = Bool(
        False,
        help="Run a second Dask Gateway (`gaia-lab up --slurm`, reached as /services/dask-gateway-hpc and through "
        "gl.cluster(profile='hpc')) whose schedulers and workers are Slurm jobs of each user's own account. Without "
        "slurm_conf the platform runs a Slurm of its own on this machine (munged, slurmctld, slurmd).",
    ).tag(config=True)
    slurm_conf = Unicode(
        "",
        help="The site's slurm.conf (e.g. /etc/slurm/slurm.conf) the HPC gateway submits to; empty: a Slurm of the "
        "platform's own under <data_dir>/slurm.",
    ).tag(config=True)
    hpc_gateway_port = Integer(8015, help="HPC dask-gateway HTTP proxy port (with slurm = True).").tag(config=True)
    hpc_gateway_tcp_port = Integer(8016, help="HPC dask-gateway scheduler proxy port (with slurm = True).").tag(
        config=True
    )
    hpc_gateway_api_port = Integer(8017, help="HPC dask-gateway private API port (with slurm = True).").tag(config=True)
    hpc_limits = Dict(
        {},
        help="Limits of the HPC clusters' options, over gaia_lab.platform.hpc_backend.DEFAULT_HPC_LIMITS: "
        "worker_cores, worker_memory_gib, max_workers, walltime_minutes ({'default': ..., 'max': ...}), partition "
        "(the default one; '' for Slurm's), max_environment_variables. A partition's own limits are Slurm's.",
    ).tag(config=True)
    hpc_scheduler_host = Unicode(
        "127.0.0.1",
        help="Address HPC schedulers and workers listen on: 127.0.0.1 when Slurm runs on this machine, 0.0.0.0 on a "
        "site whose compute nodes the gateway reaches over the network.",
    ).tag(config=True)
    metrics = Bool(
        False,
        help="Run Prometheus and the GAIA Lab exporter (`gaia-lab up --metrics`): JupyterHub, the gateway and the "
        "exporter (users, servers, clusters, data read and search latency per provider) scraped with tokens; "
        "sessions report their reads and searches. See docs/metrics.md.",
    ).tag(config=True)
    prometheus_port = Integer(8011, help="Prometheus's port (with metrics = True; password-protected).").tag(
        config=True
    )
    metrics_port = Integer(8012, help="GAIA Lab exporter's port (with metrics = True; token-protected).").tag(
        config=True
    )
    metrics_scrape_interval = Unicode("15s", help="How often Prometheus scrapes (a Prometheus duration).").tag(
        config=True
    )
    metrics_retention = Unicode("15d", help="How long Prometheus keeps samples (a Prometheus duration).").tag(
        config=True
    )
    prometheus_command = Unicode(
        "", help="The prometheus binary. Empty: found on PATH, else /usr/bin/prometheus (Debian's package)."
    ).tag(config=True)
    s3_private_users = List(
        Unicode(),
        ["*"],
        help="Hub users granted the private bucket ('*': everyone); the others browse its catalogue, not its data.",
    ).tag(config=True)
    metadata_catalogues = Bool(
        True,
        help="Publish the ISO records of the hubs that speak CSW (ODATIS, AERIS) over OGC CSW and OGC API - Records, "
        "and add both to the sessions' federation. Needs the servers' virtualenvs "
        "(scripts/install-catalogue-servers.sh); without them `up` says so and starts without.",
    ).tag(config=True)
    catalogue_servers_root = Unicode(
        "",
        help="Directory holding .venv-pycsw and .venv-pygeoapi; empty: $GAIA_LAB_STAC_SERVERS_ROOT, else the "
        "source tree gaia_lab runs from.",
    ).tag(config=True)

    authenticator_class = Unicode(
        "shared-password",
        help="JupyterHub authenticator: an entry-point name ('shared-password', 'dummy', 'github', ...) or an import "
        "path ('oauthenticator.generic.GenericOAuthenticator').",
    ).tag(config=True)
    authenticator_config = Dict(
        {}, help="Extra traits for the authenticator class, e.g. {'client_id': ..., 'oauth_callback_url': ...}."
    ).tag(config=True)
    admin_users = List(Unicode(), ["admin"], help="Hub admins; with shared-password they use the admin password.").tag(
        config=True
    )
    allowed_users = List(Unicode(), [], help="Users allowed to log in; empty means anyone who authenticates.").tag(
        config=True
    )
    user_password = Unicode(
        "", help="Shared user password (>= 8 chars). Empty: generated at first start and stored in the data dir."
    ).tag(config=True)
    admin_password = Unicode(
        "", help="Shared admin password (>= 32 chars). Empty: generated at first start and stored in the data dir."
    ).tag(config=True)

    proxy_command = List(
        Unicode(),
        [],
        help="configurable-http-proxy command. Empty: found on PATH, in <data_dir>/node/bin or ./node_modules/.bin.",
    ).tag(config=True)
    python = Unicode(
        "",
        help="Python running sessions, schedulers and workers (a virtualenv's bin/python with gaia-lab[platform]). "
        "With system accounts every account must be able to run it. Default: this interpreter.",
    ).tag(config=True)

    user_accounts = Unicode(
        "auto",
        help="'system': every hub user runs as a system account of its own (needs root); 'shared': every session "
        "runs as the account that started the platform; 'auto': 'system' when started as root, else 'shared'.",
    ).tag(config=True)
    account_prefix = Unicode(
        "gaia-",
        help="Prefix of the system accounts made for hub users: hub user 'ana' runs as '<prefix>ana'.",
    ).tag(config=True)
    shared_dir = Unicode(
        "",
        help="With system accounts: the directory every account traverses (not lists): homes/, the session "
        "catalogue, Dask cluster working directories and the demo lake. Default: /srv/gaia-lab.",
    ).tag(config=True)

    workshop_dir = Unicode(
        "", help="Folder of notebooks/data copied into each user's home as ~/workshop at their first spawn."
    ).tag(config=True)
    default_url = Unicode("/lab", help="Page a user lands on after spawn (JupyterLab).").tag(config=True)
    spawn_timeout = Integer(
        120, help="Seconds a user server, or a Dask cluster's scheduler or worker, may take to start."
    ).tag(config=True)
    server_idle_timeout = Integer(3600, help="Seconds before the idle culler stops an inactive user server.").tag(
        config=True
    )
    cull_every = Integer(300, help="Seconds between idle-culler passes.").tag(config=True)
    active_server_limit = Integer(0, help="Most user servers running at once (0: no limit).").tag(config=True)
    session_cpu_limit = Float(
        2.0,
        help="Cores a user server is given: shown in JupyterLab, charged by `gaia-lab usage`; the local spawner "
        "does not enforce it (0: none, sessions then count in hours only).",
    ).tag(config=True)
    session_mem_limit = Unicode(
        "4 GiB",
        help="Memory a user server is given: shown in JupyterLab, charged by `gaia-lab usage`; the local spawner "
        "does not enforce it ('': none).",
    ).tag(config=True)

    worker_cores = Integer(_LIMITS["worker_cores"]["default"], help="Default cores per Dask worker.").tag(config=True)
    worker_cores_max = Integer(_LIMITS["worker_cores"]["max"], help="Most cores a user may ask per worker.").tag(
        config=True
    )
    worker_memory = Unicode(_gib(_LIMITS["worker_memory_gib"]["default"]), help="Default memory per Dask worker.").tag(
        config=True
    )
    worker_memory_max = Unicode(
        _gib(_LIMITS["worker_memory_gib"]["max"]), help="Most memory a user may ask per worker."
    ).tag(config=True)
    max_workers = Integer(
        _LIMITS["max_workers"]["max"],
        help="Most workers in one cluster (users may ask less with the max_workers option).",
    ).tag(config=True)
    max_clusters_per_user = Integer(2, help="Most running clusters per user (0: no limit).").tag(config=True)
    cluster_max_cores = Float(
        float(_LIMITS["cluster_max_cores"]), help="Most cores all workers of one cluster may use together."
    ).tag(config=True)
    cluster_max_memory = Unicode(
        _gib(_LIMITS["cluster_max_memory_gib"]), help="Most memory all workers of one cluster may use together."
    ).tag(config=True)
    cluster_idle_timeout = Float(
        float(_LIMITS["idle_timeout_seconds"]),
        help="Seconds after which a cluster with no client activity is shut down (0: never).",
    ).tag(config=True)
    cluster_max_environment = Integer(
        _LIMITS["max_environment_variables"], help="Most environment variables a user may set for a cluster."
    ).tag(config=True)
    stop_clusters_on_shutdown = Bool(True, help="Stop every Dask cluster when the platform stops.").tag(config=True)
    warm_processes = Bool(
        True,
        help="Fork JupyterLab servers, Dask schedulers and workers from processes that have imported jupyter_server "
        "or dask once (a login's server and a cluster's first result sooner, less CPU per start); off: each starts a "
        "new interpreter.",
    ).tag(config=True)

    @validate(*PORT_NAMES)
    def _valid_port(self, proposal: dict[str, Any]) -> int:
        value = int(proposal["value"])
        if not 0 <= value <= 65535:
            raise TraitError(f"{proposal['trait'].name}={value}: a port is between 0 and 65535")
        return value

    @validate("metrics_scrape_interval", "metrics_retention")
    def _valid_duration(self, proposal: dict[str, Any]) -> str:
        value = str(proposal["value"])
        if not _DURATION.match(value):
            raise TraitError(f"{proposal['trait'].name}={value!r}: a Prometheus duration such as '15s', '1h30m', '15d'")
        return value

    @validate("user_accounts")
    def _valid_accounts(self, proposal: dict[str, Any]) -> str:
        value = str(proposal["value"])
        if value not in ACCOUNT_MODES:
            raise TraitError(f"user_accounts={value!r}: one of {', '.join(ACCOUNT_MODES)}")
        return value

    @validate("account_prefix")
    def _valid_prefix(self, proposal: dict[str, Any]) -> str:
        value = str(proposal["value"])
        if not ACCOUNT_PREFIX.match(value):
            raise TraitError(f"account_prefix={value!r}: 1 to 16 characters, a lowercase letter first, then [a-z0-9-]")
        return value

    @validate("ip")
    def _valid_ip(self, proposal: dict[str, Any]) -> str:
        value = str(proposal["value"])
        if value != "localhost":
            try:
                ipaddress.ip_address(value)
            except ValueError as exc:
                raise TraitError(f"ip={value!r}: not an IP address") from exc
        return value

    @validate(
        "worker_memory", "worker_memory_max", "cluster_max_memory", "session_mem_limit", "processes_worker_memory"
    )
    def _valid_memory(self, proposal: dict[str, Any]) -> str:
        if proposal["trait"].name == "session_mem_limit" and not str(proposal["value"]).strip():
            return ""
        try:
            parse_memory(proposal["value"])
        except ValueError as exc:
            raise TraitError(f"{proposal['trait'].name}: {exc}") from exc
        return str(proposal["value"])

    @validate(
        "worker_cores",
        "worker_cores_max",
        "processes_workers",
        "processes_worker_cores",
        "max_workers",
        "spawn_timeout",
        "server_idle_timeout",
        "cull_every",
    )
    def _valid_positive(self, proposal: dict[str, Any]) -> int:
        if proposal["value"] < 1:
            raise TraitError(f"{proposal['trait'].name}={proposal['value']}: must be at least 1")
        return int(proposal["value"])

    @validate(
        "max_clusters_per_user", "active_server_limit", "cluster_idle_timeout", "cluster_max_cores", "session_cpu_limit"
    )
    def _valid_non_negative(self, proposal: dict[str, Any]) -> Any:
        if proposal["value"] < 0:
            raise TraitError(f"{proposal['trait'].name}={proposal['value']}: must not be negative")
        return proposal["value"]

    # Cross-field checks: traitlets validates one trait at a time.
    def check(self) -> None:
        """Raise ConfigError when settings contradict each other."""
        if self.worker_cores > self.worker_cores_max:
            raise ConfigError(
                f"worker_cores={self.worker_cores} exceeds worker_cores_max={self.worker_cores_max}",
                source="PlatformConfig",
            )
        if parse_memory(self.worker_memory) > parse_memory(self.worker_memory_max):
            raise ConfigError(
                f"worker_memory={self.worker_memory!r} exceeds worker_memory_max={self.worker_memory_max!r}",
                source="PlatformConfig",
            )
        # The processing clusters are the users' own: they ask within the limits of the users' cluster options.
        for name, value, limit in (
            ("processes_worker_cores", self.processes_worker_cores, self.worker_cores_max),
            ("processes_workers", self.processes_workers, self.max_workers),
        ):
            if value > limit:
                source = "worker_cores_max" if name == "processes_worker_cores" else "max_workers"
                raise ConfigError(
                    f"{name}={value} exceeds {source}={limit}: a processing cluster is the user's own and gets no "
                    f"more than users may ask; lower {name} or raise {source}",
                    source="PlatformConfig",
                )
        if parse_memory(self.processes_worker_memory) > parse_memory(self.worker_memory_max):
            raise ConfigError(
                f"processes_worker_memory={self.processes_worker_memory!r} exceeds worker_memory_max="
                f"{self.worker_memory_max!r}: a processing cluster is the user's own and gets no more than users may "
                "ask; lower processes_worker_memory or raise worker_memory_max",
                source="PlatformConfig",
            )
        if self.user_accounts == "system" and os.geteuid() != 0:
            raise ConfigError(
                "user_accounts='system' needs root (it creates a system account per hub user); start as root or "
                "use 'shared'",
                source="PlatformConfig",
            )
        ports = {name: getattr(self, name) for name in PORT_NAMES if getattr(self, name)}
        seen: dict[int, str] = {}
        for name, value in ports.items():
            if value in seen:
                raise ConfigError(f"{name} and {seen[value]} both use port {value}", source="PlatformConfig")
            seen[value] = name
        if (
            not is_loopback(self.ip)
            and self.authenticator_class in ("shared-password", "dummy")
            and (not self.user_password or not self.admin_password)
        ):
            raise ConfigError(
                f"ip={self.ip} is not a loopback address: anyone on the network could log in with a password printed "
                "on this console. Set user_password and admin_password yourself (or use an SSO authenticator).",
                source="PlatformConfig",
            )

        try:
            spec.check_limits(self.cluster_limits())
        except ValueError as exc:
            raise ConfigError(str(exc), source="PlatformConfig") from None
        if self.slurm:
            from gaia_lab.platform.hpc_gateway import check_hpc_limits

            try:
                check_hpc_limits(dict(self.hpc_limits))
            except ValueError as exc:
                raise ConfigError(str(exc), source="PlatformConfig") from None

    def cluster_limits(self) -> dict[str, Any]:
        """The spec's cluster limits (gaia_lab.platform.spec) these settings give."""
        return {
            "worker_cores": {"default": self.worker_cores, "max": self.worker_cores_max},
            "worker_memory_gib": {
                "default": parse_memory(self.worker_memory) / spec.GIB,
                "max": parse_memory(self.worker_memory_max) / spec.GIB,
            },
            "max_workers": {"default": self.max_workers, "max": self.max_workers},
            "cluster_max_cores": self.cluster_max_cores,
            "cluster_max_memory_gib": parse_memory(self.cluster_max_memory) / spec.GIB,
            "idle_timeout_seconds": self.cluster_idle_timeout,
            "max_environment_variables": self.cluster_max_environment,
        }

    def accounts_mode(self) -> str:
        """'system' or 'shared', resolving 'auto' by who runs this process."""
        if self.user_accounts == "auto":
            return "system" if os.geteuid() == 0 else "shared"
        return self.user_accounts

    def resolved_shared_dir(self) -> Path:
        return Path(self.shared_dir).expanduser().resolve() if self.shared_dir else DEFAULT_SHARED_DIR

    def resolved_data_dir(self) -> Path:
        return Path(self.data_dir).expanduser().resolve() if self.data_dir else default_data_dir().resolve()

    def resolved_lake_dir(self) -> Path:
        if self.lake_dir:
            return Path(self.lake_dir).expanduser().resolve()
        # With system accounts the lake sits where every account may read it (the data dir is the hub's only).
        base = self.resolved_shared_dir() if self.accounts_mode() == "system" else self.resolved_data_dir()
        return base / "lake"


def load_config(path: str | os.PathLike[str] | None = None, **overrides: Any) -> PlatformConfig:
    """A validated PlatformConfig from a ``.yaml``/``.yml`` or ``.py`` file, then keyword overrides."""
    config = Config()
    if path is not None:
        file = Path(path).expanduser()
        if not file.is_file():
            raise ConfigError("no such config file", source=str(file))
        if file.suffix in (".yaml", ".yml"):
            config = _yaml_config(file)
        elif file.suffix == ".py":
            try:
                config = PyFileConfigLoader(file.name, path=str(file.parent)).load_config()
            except ConfigFileNotFound as exc:
                raise ConfigError("no such config file", source=str(file)) from exc
            except Exception as exc:
                raise ConfigError(f"cannot load: {exc}", source=str(file)) from exc
        else:
            raise ConfigError("config files end in .yaml, .yml or .py", source=str(file))
    for key, value in overrides.items():
        if value is not None:
            config.PlatformConfig[key] = value
    known = set(PlatformConfig.class_trait_names(config=True))
    unknown = sorted(set(config.get("PlatformConfig", {})) - known)
    if unknown:
        raise ConfigError(f"unknown setting(s) {unknown}; known: {sorted(known)}", source=str(path or "PlatformConfig"))
    try:
        platform_config = PlatformConfig(config=config)
    except TraitError as exc:
        raise ConfigError(str(exc), source=str(path or "PlatformConfig")) from exc
    platform_config.check()
    return platform_config


def _yaml_config(file: Path) -> Config:
    try:
        data = yaml.safe_load(file.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", source=str(file)) from exc
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping of settings", source=str(file))
    if set(data) == {"PlatformConfig"}:
        data = data["PlatformConfig"]
    if not isinstance(data, dict):
        raise ConfigError("PlatformConfig: expected a mapping of settings", source=str(file))
    return Config({"PlatformConfig": data})


def describe_traits() -> list[tuple[str, str, str]]:
    """(name, default, help) of every setting, for docs and ``gaia-lab up --help-config``."""
    rows = []
    for name, trait in sorted(PlatformConfig.class_traits(config=True).items()):
        rows.append((name, repr(trait.default()), trait.help))
    return rows
