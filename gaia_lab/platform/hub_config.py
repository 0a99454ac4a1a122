"""The generated jupyterhub_config.py. Secrets stay out of it: the hub reads them from its environment."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import gaia_lab
from gaia_lab.platform import portal_service, processes_service, spec, stac_service, usage_store
from gaia_lab.platform.config import PlatformConfig, parse_memory
from gaia_lab.platform.layout import Layout, Ports
from gaia_lab.platform.processes import MARKER

GATEWAY_SERVICE = spec.GATEWAY_SERVICE
PLATFORM_SERVICE = "gaia-lab-platform"
CULLER_SERVICE = "idle-culler"

# Environment variables the hub process gets from the supervisor (values from secrets.json).
ENV_PROXY_TOKEN = "CONFIGPROXY_AUTH_TOKEN"
ENV_USER_PASSWORD = "GAIA_LAB_USER_PASSWORD"
ENV_ADMIN_PASSWORD = "GAIA_LAB_ADMIN_PASSWORD"
ENV_GATEWAY_TOKEN = "GAIA_LAB_GATEWAY_HUB_TOKEN"
ENV_PLATFORM_TOKEN = "GAIA_LAB_PLATFORM_TOKEN"
SECRET_ENV = (
    ENV_PROXY_TOKEN,
    ENV_USER_PASSWORD,
    ENV_ADMIN_PASSWORD,
    ENV_GATEWAY_TOKEN,
    ENV_PLATFORM_TOKEN,
    processes_service.ENV_TOKEN,
    stac_service.ENV_TOKEN,
    portal_service.ENV_TOKEN,
)

SHARED_PASSWORD_NAMES = ("shared-password", "jupyterhub.authenticators.shared.SharedPasswordAuthenticator")

# Server extensions installed as dependencies but of no use in a session, each costing its import at every spawn
# (measured: 1.2-1.5 s of a 4.6 s server start): panel's serves `panel serve`-style previews (notebooks render
# panel/hvplot output through the kernel and the lab extension, not through it), jupyter_lsp needs language servers
# that are not installed. images/base/jupyter_server_config.json disables the same ones in the notebook image.
UNUSED_SERVER_EXTENSIONS = ("jupyter_lsp", "panel.io.jupyter_server_extension")


def session_environment(config: PlatformConfig, layout: Layout, ports: Ports, session_python: str) -> dict[str, str]:
    """What every user session (server and kernels) gets: the spec's environment for this machine's addresses, the
    lake's URL, the platform marker (so `down` finds every session process) and the session Python on PATH."""
    ip = config.ip
    environment = spec.session_environment(
        catalog=str(layout.catalog_file),
        gateway_address=f"http://{ip}:{ports.port}{spec.GATEWAY_PREFIX}",
        gateway_proxy_address=f"gateway://{ip}:{ports.gateway_tcp_port}",
        gateway_public_address=f"{spec.GATEWAY_PREFIX}/",
    )
    # System accounts get the system's PATH: the platform account's own (root's) may name what they cannot run.
    system_path = "/usr/local/bin:/usr/bin:/bin"
    path = system_path if layout.shared_dir else os.environ.get("PATH", system_path)
    environment.update(
        {
            "GAIA_LAB_LAKE_URL": f"http://{ip}:{ports.lake_port}/",
            MARKER: str(layout.data_dir),
            "PATH": os.pathsep.join([str(Path(session_python).parent), path]),
        }
    )
    if config.opendap:
        environment["GAIA_LAB_OPENDAP_URL"] = f"http://{ip}:{ports.opendap_port}/"
    if config.slurm:
        from gaia_lab.platform import hpc_gateway

        environment.update(hpc_gateway.session_environment(ip, ports))
    if config.metrics:
        # gaia_lab.metrics reports searches and reads there, with the session's own JupyterHub token.
        environment["GAIA_LAB_METRICS_URL"] = f"http://{ip}:{ports.metrics_port}/api/v1/report"
    if processes_service.enabled(config):
        environment["GAIA_LAB_PROCESSES_URL"] = processes_service.public_url(ip, ports) + "/"
    if stac_service.enabled(config):
        environment[stac_service.SESSION_URL] = stac_service.public_url(ip, ports)
    return environment


def roles(*, hpc: bool = False, processes: bool = False, portal: bool = False) -> list[dict[str, Any]]:
    """The spec's session roles (with ``hpc``, access to the HPC gateway too), and those of the platform's services."""
    session_scopes = [f"access:services!service={hpc_gateway_service()}"] if hpc else []
    extra: list[dict[str, Any]] = []
    if processes:
        extra.append(processes_service.hub_role())
    if portal:
        extra.append(portal_service.hub_role())
    return [
        *({"name": name, "scopes": [*scopes, *session_scopes]} for name, scopes in spec.ROLES.items()),
        {
            "name": CULLER_SERVICE,
            "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
            "services": [CULLER_SERVICE],
        },
        {
            "name": PLATFORM_SERVICE,
            # Listing users and stopping their servers: no token minting, no user administration.
            "scopes": ["list:users", "read:users", "read:servers", "delete:servers", "read:hub"],
            "services": [PLATFORM_SERVICE],
        },
        *extra,
    ]


def hpc_gateway_service() -> str:
    from gaia_lab.platform import hpc_gateway

    return hpc_gateway.SERVICE


def hpc_service_lines(config: PlatformConfig, ports: Ports) -> list[str]:
    """The HPC gateway as a hub service (`gaia-lab up --slurm`); its token comes from the hub's environment."""
    from gaia_lab.platform import hpc_gateway

    url = f"http://{config.ip}:{ports.hpc_gateway_port}"
    return [
        f"    {{'name': {hpc_gateway.SERVICE!r}, 'url': {url!r},",
        f"     'api_token': os.environ[{hpc_gateway.ENV_HUB_TOKEN!r}], 'display': False, 'oauth_no_confirm': True}},",
    ]


def server_args(system_accounts: bool) -> list[str]:
    # JupyterLab's update check and news feed call out to the internet; a platform may well have none.
    args = ["--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--LabApp.news_url=None"]
    # A session cannot rebuild JupyterLab (extensions come prebuilt with the environment): the page's build check
    # would only cost every new session half a second of its server's CPU while the page loads.
    args.append(
        f"--ServerApp.tornado_settings={ {'page_config_data': {'buildCheck': False, 'buildAvailable': False}}!r}"
    )
    disabled = {name: False for name in UNUSED_SERVER_EXTENSIONS}
    args.append(f"--ServerApp.jpserver_extensions={disabled!r}")
    if not system_accounts and os.geteuid() == 0:
        args.append("--allow-root")  # shared mode started as root (a container): the servers are root too
    return args


def launcher_args(config: PlatformConfig, session_python: str) -> list[str]:
    """The JupyterLab launcher's "GAIA Lab" section (portal, tutorials, docs), when the portal is served."""
    if not portal_service.enabled(config):
        return []
    return [f"--ServerProxy.servers={portal_service.launcher_servers(session_python)!r}"]


def render(
    config: PlatformConfig, layout: Layout, ports: Ports, session_python: str, *, hub_python: str | None = None
) -> str:
    system = layout.shared_dir is not None
    session_bin = Path(session_python).parent
    settings: list[tuple[str, Any]] = [
        ("JupyterHub.bind_url", f"http://{config.ip}:{ports.port}"),
        ("JupyterHub.hub_bind_url", f"http://{config.ip}:{ports.hub_port}"),
        ("JupyterHub.db_url", f"sqlite:///{layout.hub_dir / 'jupyterhub.sqlite'}"),
        # The supervisor owns the proxy and user servers outlive a hub restart: the hub must not stop them.
        ("JupyterHub.cleanup_servers", False),
        ("JupyterHub.cleanup_proxy", False),
        ("ConfigurableHTTPProxy.should_start", False),
        ("ConfigurableHTTPProxy.api_url", f"http://{config.ip}:{ports.proxy_api_port}"),
        ("JupyterHub.authenticator_class", config.authenticator_class),
        ("Authenticator.admin_users", set(config.admin_users)),
        ("Spawner.cmd", [str(session_bin / "jupyterhub-singleuser")]),
        ("Spawner.args", server_args(system) + launcher_args(config, session_python)),
        ("Spawner.ip", config.ip),
        ("Spawner.default_url", config.default_url),
        ("Spawner.start_timeout", config.spawn_timeout),
        ("Spawner.http_timeout", config.spawn_timeout),
        ("Spawner.environment", session_environment(config, layout, ports, session_python)),
        # --s3: the state file of the platform's S3 server, from which the hub makes each session's key
        ("ReadyWaitingMixin.s3_state_file", str(layout.data_dir / "s3" / "s3-server.json") if config.s3 else ""),
        ("ReadyWaitingMixin.s3_private_users", list(config.s3_private_users)),
        ("WarmStartMixin.warm_socket", str(layout.warm_sessions_socket) if config.warm_processes else ""),
        ("JupyterHub.active_server_limit", config.active_server_limit),
        # What usage accounting charges a server for (gaia_lab.platform.usage_hub); None: no limit.
        ("Spawner.cpu_limit", config.session_cpu_limit or None),
        ("Spawner.mem_limit", parse_memory(config.session_mem_limit) if config.session_mem_limit else None),
        (
            "JupyterHub.load_roles",
            roles(
                hpc=config.slurm,
                processes=processes_service.enabled(config),
                portal=portal_service.enabled(config),
            ),
        ),
    ]
    if system:
        spawner = "SystemUserSpawner"
        settings += [
            ("SystemUserSpawner.account_prefix", config.account_prefix),
            ("SystemUserSpawner.homes_dir", str(layout.homes_dir)),
            ("SystemUserSpawner.accounts_lock", str(layout.accounts_lock)),
            ("SystemUserSpawner.workshop_dir", portal_service.workshop_dir(config)),
        ]
    else:
        spawner = "ReadyWaitingSpawner"
        settings += [
            ("ReadyWaitingSpawner.home_dir_template", str(layout.homes_dir / "{username}")),
            ("ReadyWaitingSpawner.workshop_dir", portal_service.workshop_dir(config)),
        ]
    if config.allowed_users:
        settings.append(("Authenticator.allowed_users", set(config.allowed_users)))
    else:
        settings.append(("Authenticator.allow_all", True))
    for key, value in sorted(config.authenticator_config.items()):
        settings.append((f"Authenticator.{key}", value))

    package = Path(gaia_lab.__file__).parent
    lines = [
        "# Generated by `gaia-lab up` at every start; edit the platform config instead.",
        "import os",
        "import sys",
        "import types",
        "",
        "c = get_config()  # noqa: F821",
        "",
        "# The hub needs only gaia_lab.platform's spawner (standard library and JupyterHub): stand-ins for its parent",
        "# packages keep gaia_lab/__init__.py, which imports the whole scientific stack (3 s), out of the hub.",
        f"for _name, _path in (('gaia_lab', {str(package)!r}), ('gaia_lab.platform', {str(package / 'platform')!r})):",
        "    if _name not in sys.modules:",
        "        sys.modules[_name] = types.ModuleType(_name)",
        "        sys.modules[_name].__path__ = [_path]",
        "",
        f"from gaia_lab.platform.spawner import {spawner}  # noqa: E402",
        "",
        f"c.JupyterHub.spawner_class = {spawner}",
    ]
    lines += [f"c.{key} = {value!r}" for key, value in settings]
    lines += [
        "",
        "# Usage accounting (gaia-lab usage): every user server's start and stop, with its cores and memory.",
        "from gaia_lab.platform import usage_hub  # noqa: E402",
        "",
        f"usage_hub.install(c, {str(usage_store.path_in(layout.data_dir))!r})",
        "",
    ]
    lines.append(f"c.ConfigurableHTTPProxy.auth_token = os.environ[{ENV_PROXY_TOKEN!r}]")
    if config.authenticator_class in SHARED_PASSWORD_NAMES:
        lines.append(f"c.SharedPasswordAuthenticator.user_password = os.environ[{ENV_USER_PASSWORD!r}]")
        lines.append(f"c.SharedPasswordAuthenticator.admin_password = os.environ[{ENV_ADMIN_PASSWORD!r}]")
    culler = [
        str(hub_python or session_python),
        "-m",
        "jupyterhub_idle_culler",
        f"--timeout={config.server_idle_timeout}",
        f"--cull-every={config.cull_every}",
    ]
    lines += [
        "c.JupyterHub.services = [",
        f"    {{'name': {GATEWAY_SERVICE!r}, 'url': {f'http://{config.ip}:{ports.gateway_port}'!r},",
        f"     'api_token': os.environ[{ENV_GATEWAY_TOKEN!r}], 'display': False, 'oauth_no_confirm': True}},",
        f"    {{'name': {PLATFORM_SERVICE!r}, 'api_token': os.environ[{ENV_PLATFORM_TOKEN!r}], 'display': False}},",
        *(hpc_service_lines(config, ports) if config.slurm else []),
        f"    {{'name': {CULLER_SERVICE!r}, 'command': {culler!r}, 'display': False}},",
        *(
            [
                f"    {{**{processes_service.hub_service(config.ip, ports)!r},",
                f"     'api_token': os.environ[{processes_service.ENV_TOKEN!r}]}},",
            ]
            if processes_service.enabled(config)
            else []
        ),
        *(
            [
                f"    {{**{stac_service.hub_service(config.ip, ports)!r},",
                f"     'api_token': os.environ[{stac_service.ENV_TOKEN!r}]}},",
            ]
            if stac_service.enabled(config)
            else []
        ),
        *(
            [
                f"    {{**{portal_service.hub_service(config.ip, ports)!r},",
                f"     'api_token': os.environ[{portal_service.ENV_TOKEN!r}]}},",
            ]
            if portal_service.enabled(config)
            else []
        ),
        "]",
        "",
    ]
    return "\n".join(lines)
