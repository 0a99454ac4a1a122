"""PlatformConfig loading and validation, secrets, the generated hub/gateway configs, the session federation."""

from __future__ import annotations

import argparse
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from traitlets.config import Config

from gaia_lab.errors import ConfigError, PlatformError
from gaia_lab.platform import PlatformConfig, load_config, portal_service, processes_service, spec, stac_service
from gaia_lab.platform import gateway_config as gateway_render
from gaia_lab.platform import hub_config as hub_render
from gaia_lab.platform.accounts import prepare_home
from gaia_lab.platform.cli_args import add_platform_commands
from gaia_lab.platform.config import describe_traits, parse_memory
from gaia_lab.platform.federation import write_session_federation
from gaia_lab.platform.layout import Layout, Ports
from gaia_lab.platform.secrets import load_or_create

PORTS = Ports(
    port=18000,
    hub_port=18081,
    proxy_api_port=18001,
    gateway_port=18002,
    gateway_tcp_port=18003,
    gateway_api_port=18004,
    lake_port=18005,
    csw_port=18006,
    records_port=18007,
    opendap_port=18010,
    processes_port=18013,
    stac_port=18018,
)


def test_defaults_are_loopback_and_documented():
    config = load_config(None)
    assert config.ip == "127.0.0.1"
    assert config.port == 8000
    assert config.authenticator_class == "shared-password"
    names = {name for name, _, _ in describe_traits()}
    assert {
        "ip",
        "port",
        "data_dir",
        "authenticator_class",
        "worker_cores_max",
        "worker_memory_max",
        "max_workers",
        "max_clusters_per_user",
        "cluster_idle_timeout",
        "server_idle_timeout",
    } <= names
    assert all(help_text for _, _, help_text in describe_traits())


def test_yaml_flat_and_namespaced_and_python_files(tmp_path):
    flat = tmp_path / "flat.yaml"
    flat.write_text(yaml.safe_dump({"port": 9000, "worker_cores_max": 4, "worker_memory_max": "16 GiB"}))
    config = load_config(flat)
    assert (config.port, config.worker_cores_max, config.worker_memory_max) == (9000, 4, "16 GiB")
    namespaced = tmp_path / "ns.yml"
    namespaced.write_text(yaml.safe_dump({"PlatformConfig": {"max_clusters_per_user": 5}}))
    assert load_config(namespaced).max_clusters_per_user == 5
    python = tmp_path / "platform_config.py"
    python.write_text("c.PlatformConfig.cluster_idle_timeout = 60\nc.PlatformConfig.admin_users = ['root']\n")
    config = load_config(python, port=9100)
    assert (config.cluster_idle_timeout, config.admin_users, config.port) == (60, ["root"], 9100)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"prot": 80}, r"unknown setting\(s\) \['prot'\]"),
        ({"port": 70000}, "between 0 and 65535"),
        ({"ip": "not-an-ip"}, "not an IP address"),
        ({"worker_memory": "lots"}, "not a memory size"),
        ({"worker_cores": 4, "worker_cores_max": 2}, "worker_cores=4 exceeds worker_cores_max=2"),
        ({"worker_memory": "8 GiB", "worker_memory_max": "4 GiB"}, "exceeds worker_memory_max"),
        ({"port": 8000, "hub_port": 8000}, "both use port 8000"),
        ({"max_workers": 0}, "must be at least 1"),
        ({"ip": "0.0.0.0"}, "not a loopback address.*Set user_password and admin_password"),
        ({"user_accounts": "per-user"}, "user_accounts='per-user': one of auto, system, shared"),
        ({"account_prefix": "Gaia_"}, "account_prefix='Gaia_': 1 to 16 characters"),
        ({"account_prefix": "a-very-long-prefix-"}, "account_prefix=.*1 to 16 characters"),
        ({"worker_memory": "128 MiB"}, r"worker_memory_gib.*need 0.25 <= default <= max"),
        (
            {"processes_worker_memory": "12 GiB", "worker_memory_max": "8 GiB"},
            "processes_worker_memory='12 GiB' exceeds worker_memory_max='8 GiB'.*lower processes_worker_memory",
        ),
        ({"processes_worker_memory": "lots"}, "processes_worker_memory: .*not a memory size"),
        ({"processes_worker_cores": 3, "worker_cores_max": 2}, "processes_worker_cores=3 exceeds worker_cores_max=2"),
        ({"processes_workers": 9, "max_workers": 8}, "processes_workers=9 exceeds max_workers=8"),
    ],
)
def test_invalid_settings_are_named(tmp_path, settings, message):
    file = tmp_path / "bad.yaml"
    file.write_text(yaml.safe_dump(settings))
    with pytest.raises(ConfigError, match=message) as info:
        load_config(file)
    assert str(file) in str(info.value) or info.value.source == "PlatformConfig"


def test_system_accounts_need_root(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(ConfigError, match="user_accounts='system' needs root"):
        load_config(None, user_accounts="system")
    assert load_config(None).accounts_mode() == "shared"  # auto, not root: one shared account
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert load_config(None).accounts_mode() == "system"
    assert load_config(None, user_accounts="shared").accounts_mode() == "shared"


def test_the_mode_is_announced_in_one_line(tmp_path, monkeypatch):
    from gaia_lab.platform import console

    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    config = load_config(None, data_dir=str(tmp_path))
    line = console.mode_line(config, Layout.from_config(config))
    assert line.startswith("single-user mode: all sessions share this account")
    assert "\n" not in line
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    config = load_config(None, data_dir=str(tmp_path), shared_dir=str(tmp_path / "srv"), account_prefix="ws-")
    line = console.mode_line(config, Layout.from_config(config))
    assert line.startswith("per-user accounts:")
    assert "ws-<name>" in line
    assert "\n" not in line


def test_non_loopback_needs_explicit_passwords(tmp_path):
    config = load_config(None, ip="0.0.0.0", user_password="a-long-user-pw", admin_password="x" * 40)
    assert config.ip == "0.0.0.0"


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "c.toml").write_text("")
    with pytest.raises(ConfigError, match=r"\.yaml, \.yml or \.py"):
        load_config(tmp_path / "c.toml")
    (tmp_path / "c.yaml").write_text("[1, 2")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(tmp_path / "c.yaml")


def test_parse_memory():
    assert parse_memory("2 GiB") == 2 * 2**30
    assert parse_memory("512M") == 512 * 10**6
    assert parse_memory("1.5 GB") == 1_500_000_000
    assert parse_memory(1024) == 1024


def test_secrets_are_private_generated_once_and_overridable(tmp_path):
    secrets, created = load_or_create(tmp_path)
    path = tmp_path / "secrets.json"
    assert created
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(secrets.admin_password) >= 32
    assert len(secrets.user_password) >= 8
    again, created = load_or_create(tmp_path)
    assert not created
    assert again == secrets
    chosen, _ = load_or_create(tmp_path, user_password="workshop-2026")
    assert chosen.user_password == "workshop-2026"
    assert chosen.proxy_auth_token == secrets.proxy_auth_token
    path.chmod(0o644)
    with pytest.raises(PlatformError, match="readable by other users") as info:
        load_or_create(tmp_path)
    assert info.value.component == "secrets"


def _exec_config(text: str, env: dict[str, str]) -> Config:
    config = Config()
    old = dict(os.environ)
    os.environ.update(env)
    try:
        exec(compile(text, "generated_config.py", "exec"), {"get_config": lambda: config})
    finally:
        os.environ.clear()
        os.environ.update(old)
    return config


@pytest.mark.parametrize("mode", ["system", "shared"])
def test_generated_hub_config(tmp_path, monkeypatch, mode):
    monkeypatch.setattr(os, "geteuid", lambda: 0)  # rendering only: the mode is what matters, not who renders
    config = load_config(
        None,
        data_dir=str(tmp_path),
        workshop_dir=str(tmp_path),
        user_accounts=mode,
        shared_dir=str(tmp_path / "shared"),
        account_prefix="ws-",
    )
    layout = Layout.from_config(config)
    text = hub_render.render(config, layout, PORTS, "/venv/bin/python", hub_python="/hub/bin/python")
    env = {
        hub_render.ENV_PROXY_TOKEN: "p" * 64,
        hub_render.ENV_USER_PASSWORD: "userpass1",
        hub_render.ENV_ADMIN_PASSWORD: "a" * 40,
        hub_render.ENV_GATEWAY_TOKEN: "g" * 64,
        hub_render.ENV_PLATFORM_TOKEN: "t" * 64,
        processes_service.ENV_TOKEN: "o" * 64,
        stac_service.ENV_TOKEN: "s" * 64,
        portal_service.ENV_TOKEN: "w" * 64,
    }
    for secret in env.values():
        assert secret not in text
    c = _exec_config(text, env)
    assert c.JupyterHub.bind_url == "http://127.0.0.1:18000"
    assert c.JupyterHub.hub_bind_url == "http://127.0.0.1:18081"
    assert c.JupyterHub.db_url.endswith("hub/jupyterhub.sqlite")
    assert c.ConfigurableHTTPProxy.should_start is False
    assert c.JupyterHub.cleanup_servers is False
    assert c.SharedPasswordAuthenticator.user_password == "userpass1"
    assert c.Authenticator.allow_all is True
    assert c.Spawner.default_url == "/lab"
    assert c.Spawner.cmd == ["/venv/bin/jupyterhub-singleuser"]
    env_ = c.Spawner.environment
    assert env_["DASK_GATEWAY__ADDRESS"] == "http://127.0.0.1:18000/services/dask-gateway"
    assert env_["DASK_GATEWAY__PROXY_ADDRESS"] == "gateway://127.0.0.1:18003"
    assert env_["DASK_GATEWAY__AUTH__TYPE"] == "jupyterhub"
    assert env_["DASK_LABEXTENSION__FACTORY__CLASS"] == "GatewayCluster"
    assert env_["GAIA_LAB_CATALOG"] == str(layout.catalog_file)
    assert env_["PATH"].startswith("/venv/bin:")
    roles = {role["name"]: role for role in c.JupyterHub.load_roles}
    for name in ("user", "server"):
        assert "access:services!service=dask-gateway" in roles[name]["scopes"]
    # The supervisor's own service lists users and stops servers; it cannot mint tokens or administer users.
    assert not {"tokens", "admin:users", "admin:servers"} & set(roles["gaia-lab-platform"]["scopes"])
    services = {service["name"]: service for service in c.JupyterHub.services}
    assert services["dask-gateway"]["url"] == "http://127.0.0.1:18002"
    assert services["dask-gateway"]["api_token"] == "g" * 64
    assert services["idle-culler"]["command"][:3] == ["/hub/bin/python", "-m", "jupyterhub_idle_culler"]
    # OGC API - Processes: a hub service whose role may issue users' tokens (for their gateway clusters), no more.
    assert services["gaia-lab-processes"]["url"] == "http://127.0.0.1:18013"
    assert services["gaia-lab-processes"]["api_token"] == "o" * 64
    assert set(roles["gaia-lab-processes"]["scopes"]) == {"tokens", "read:users:name"}
    assert env_["GAIA_LAB_PROCESSES_URL"] == "http://127.0.0.1:18000/services/gaia-lab-processes/"
    for name in ("user", "server"):
        assert "access:services!service=gaia-lab-processes" in roles[name]["scopes"]
    # The federation's STAC API: a plain hub service (no role of its own), every user and server may use it.
    assert services["gaia-lab-stac"]["url"] == "http://127.0.0.1:18018"
    assert services["gaia-lab-stac"]["api_token"] == "s" * 64
    assert "gaia-lab-stac" not in roles
    assert env_["GAIA_LAB_STAC_URL"] == "http://127.0.0.1:18000/services/gaia-lab-stac/"
    for name in ("user", "server"):
        assert "access:services!service=gaia-lab-stac" in roles[name]["scopes"]
    if mode == "system":
        assert c.JupyterHub.spawner_class.__name__ == "SystemUserSpawner"
        assert c.SystemUserSpawner.account_prefix == "ws-"
        assert c.SystemUserSpawner.homes_dir == str(tmp_path / "shared" / "homes")
        assert c.SystemUserSpawner.workshop_dir == str(tmp_path)
        assert layout.catalog_file == tmp_path / "shared" / "catalog" / "federation.yaml"
        assert env_["PATH"] == "/venv/bin:/usr/local/bin:/usr/bin:/bin"
        assert "--allow-root" not in c.Spawner.args  # servers run as their accounts, never as root
    else:
        assert c.JupyterHub.spawner_class.__name__ == "ReadyWaitingSpawner"
        assert c.ReadyWaitingSpawner.home_dir_template == str(layout.homes_dir / "{username}")
        assert "--allow-root" in c.Spawner.args  # shared mode as root (a container): the servers are root
    # The hub imports the spawner without gaia_lab's package __init__ (the scientific stack).
    assert "import gaia_lab\n" not in text
    assert "sys.modules[_name] = types.ModuleType(_name)" in text


def test_the_hub_loads_its_spawner_without_the_scientific_stack(tmp_path):
    config = load_config(None, data_dir=str(tmp_path), user_accounts="shared")
    text = hub_render.render(config, Layout.from_config(config), PORTS, sys.executable)
    script = (
        "import os, sys\n"
        f"os.environ.update(dict.fromkeys({hub_render.SECRET_ENV!r}, 'x' * 40))\n"
        "from traitlets.config import Config\n"
        "c = Config()\n"
        f"exec(compile({text!r}, 'jupyterhub_config.py', 'exec'), {{'get_config': lambda: c}})\n"
        "assert c.JupyterHub.spawner_class.__name__ == 'ReadyWaitingSpawner'\n"
        "heavy = sorted(m for m in ('xarray', 'numpy', 'dask', 'gaia_lab.catalog') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def _tree(folder: Path) -> list[str]:
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*"))


def test_workshop_is_copied_read_only_once(tmp_path):
    course = tmp_path / "course"
    (course / "data").mkdir(parents=True)
    (course / "01-intro.ipynb").write_text('{"cells": []}')
    (course / "data" / "points.csv").write_text("x,y\n1,2\n")
    (course / ".ipynb_checkpoints").mkdir()
    (course / ".ipynb_checkpoints" / "01-intro-checkpoint.ipynb").write_text("{}")

    home = tmp_path / "homes" / "ana"
    home.mkdir(parents=True)
    prepare_home(home, workshop=str(course))
    workshop = home / "workshop"
    assert _tree(workshop) == ["01-intro.ipynb", "data", "data/points.csv"]  # editor checkpoints left out
    assert (workshop / "data" / "points.csv").read_text() == "x,y\n1,2\n"
    for path in [workshop, *workshop.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o555 if path.is_dir() else 0o444), (path, oct(mode))
        assert path.stat().st_uid == os.geteuid()  # the platform's: a user's own account cannot chmod it back
    news = home / ".jupyter/lab/user-settings/@jupyterlab/apputils-extension/notification.jupyterlab-settings"
    assert json.loads(news.read_text()) == {"fetchNews": "false"}
    assert not (home / "workshop.partial").exists()

    # Idempotent: a later spawn leaves an existing copy as it is, even after the course changed.
    (course / "02-more.ipynb").write_text("{}")
    prepare_home(home, workshop=str(course))
    assert _tree(workshop) == ["01-intro.ipynb", "data", "data/points.csv"]

    # A copy interrupted by a crash (read-only leftovers) is replaced by a complete one.
    home = tmp_path / "homes" / "bea"
    stale = home / "workshop.partial" / "data"
    stale.mkdir(parents=True)
    (stale / "half.csv").write_text("x")
    (stale / "half.csv").chmod(0o444)
    stale.chmod(0o555)
    (home / "workshop.partial").chmod(0o555)
    prepare_home(home, workshop=str(course))
    assert _tree(home / "workshop") == ["01-intro.ipynb", "02-more.ipynb", "data", "data/points.csv"]
    assert not (home / "workshop.partial").exists()


def test_home_preparation_follows_no_link_a_user_planted(tmp_path):
    """As root, the hub writes into homes that users control: links there lead nowhere."""
    course = tmp_path / "course"
    course.mkdir()
    (course / "01.ipynb").write_text("{}")
    target = tmp_path / "elsewhere"
    target.mkdir()
    home = tmp_path / "homes" / "eve"
    home.mkdir(parents=True)
    (home / ".jupyter").symlink_to(target)  # the settings path leads out of the home
    (home / "workshop.partial").symlink_to(target)  # so does the copy's scratch name
    prepare_home(home, workshop=str(course))
    assert list(target.iterdir()) == []  # nothing written through either link
    assert (home / "workshop" / "01.ipynb").read_text() == "{}"
    assert (home / ".jupyter").is_symlink()
    # A home that is itself a link is refused.
    (tmp_path / "homes" / "mallory").symlink_to(target)
    with pytest.raises(NotADirectoryError):
        prepare_home(tmp_path / "homes" / "mallory", workshop=str(course))
    assert list(target.iterdir()) == []


def test_other_authenticators_get_their_settings(tmp_path):
    config = load_config(
        None,
        data_dir=str(tmp_path),
        authenticator_class="oauthenticator.generic.GenericOAuthenticator",
        authenticator_config={"client_id": "gaia", "oauth_callback_url": "https://lab.example/hub/oauth_callback"},
        allowed_users=["ana"],
    )
    text = hub_render.render(config, Layout.from_config(config), PORTS, "/venv/bin/python")
    c = _exec_config(
        text,
        {
            hub_render.ENV_PROXY_TOKEN: "p",
            hub_render.ENV_GATEWAY_TOKEN: "g",
            hub_render.ENV_PLATFORM_TOKEN: "t",
            processes_service.ENV_TOKEN: "o",
            stac_service.ENV_TOKEN: "s",
            portal_service.ENV_TOKEN: "w",
        },
    )
    assert c.JupyterHub.authenticator_class == "oauthenticator.generic.GenericOAuthenticator"
    assert c.Authenticator.client_id == "gaia"
    assert c.Authenticator.allowed_users == {"ana"}
    assert "SharedPasswordAuthenticator" not in text


@pytest.mark.parametrize("mode", ["system", "shared"])
def test_generated_gateway_config(tmp_path, monkeypatch, mode):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    config = load_config(
        None,
        data_dir=str(tmp_path),
        user_accounts=mode,
        shared_dir=str(tmp_path / "shared"),
        worker_memory="1 GiB",
        worker_memory_max="4 GiB",
        worker_cores_max=2,
        max_workers=6,
        cluster_idle_timeout=600,
        max_clusters_per_user=3,
    )
    layout = Layout.from_config(config)
    c = _exec_config(gateway_render.render(config, layout, PORTS, "/venv/bin/python"), {})
    assert c.DaskGateway.address == "127.0.0.1:18004"
    assert c.Proxy.address == "127.0.0.1:18002"
    assert c.Proxy.tcp_address == "127.0.0.1:18003"
    assert c.Proxy.prefix == "/services/dask-gateway"
    assert c.ClusterConfig.scheduler_cmd == ["/venv/bin/dask", "scheduler"]
    assert c.ClusterConfig.worker_cmd == ["/venv/bin/dask", "worker"]
    assert c.ClusterConfig.idle_timeout == 600.0
    starts = (c.DBBackendBase.worker_start_timeout, c.DBBackendBase.cluster_start_timeout)
    assert starts == (config.spawn_timeout, config.spawn_timeout)
    assert c.DBBackendBase.cluster_heartbeat_timeout == config.spawn_timeout
    assert c.ClusterConfig.cluster_max_workers == 6
    backend = "SystemUserLocalBackend" if mode == "system" else "LimitedLocalBackend"
    assert c.DaskGateway.backend_class == f"gaia_lab.platform.gateway_ext.{backend}"
    assert c[backend].max_clusters_per_user == 3
    assert c.LocalBackend.clusters_directory == str(layout.clusters_dir)
    if mode == "system":
        assert layout.clusters_dir == tmp_path / "shared" / "clusters"
        assert c.SystemUserLocalBackend.homes_dir == str(tmp_path / "shared" / "homes")
        assert "PATH" not in c.LocalBackend.inherited_environment  # the platform account's PATH is not theirs
        assert c.ClusterConfig.environment["PATH"].startswith("/venv/bin:")
    assert c.DBBackendBase.db_url == f"sqlite:///{layout.gateway_dir / 'gateway.sqlite'}"
    options = c.Backend.cluster_options
    spec = {field["field"]: field for field in options.get_specification()}
    assert spec["worker_cores"]["spec"] == {"type": "int", "min": 1, "max": 2}
    assert spec["worker_memory"]["spec"]["max"] == 4.0
    assert spec["max_workers"]["spec"]["max"] == 6
    requested = options.parse_options({"worker_cores": 2, "worker_memory": 1.5, "environment": {"A": "1"}})
    overrides = options.get_configuration(requested, user=None)
    assert overrides["worker_cores"] == overrides["worker_threads"] == 2
    assert overrides["worker_memory"] == int(1.5 * 2**30)
    assert overrides["cluster_max_workers"] == 6
    assert overrides["environment"]["A"] == "1"
    assert "image" not in spec  # no images to choose from on one machine
    with pytest.raises(ValueError, match="worker_cores must be <= 2"):
        options.parse_options({"worker_cores": 3})


def test_session_federation_points_at_the_lake_server(tmp_path):
    lake = tmp_path / "lake"
    (lake / "odatis").mkdir(parents=True)
    (lake / "federation.yaml").write_text(
        yaml.safe_dump(
            {
                "providers": [
                    {"name": "odatis", "hub": "ocean", "type": "stac", "url": "./odatis/catalog.json"},
                    {"name": "aeris", "hub": "atmosphere", "type": "stac", "url": str(lake / "aeris" / "catalog.json")},
                    {"name": "remote", "hub": "land", "type": "stac", "url": "https://stac.example/api"},
                ]
            }
        )
    )
    target = write_session_federation(lake, "http://127.0.0.1:18005/", tmp_path / "out" / "federation.yaml")
    urls = [p["url"] for p in yaml.safe_load(target.read_text())["providers"]]
    assert urls == [
        "http://127.0.0.1:18005/odatis/catalog.json",
        "http://127.0.0.1:18005/aeris/catalog.json",
        "https://stac.example/api",
    ]
    (lake / "federation.yaml").write_text("just text")
    with pytest.raises(PlatformError, match="no 'providers' list") as info:
        write_session_federation(lake, "http://127.0.0.1:18005/", target)
    assert info.value.component == "lake"


def test_cli_commands_are_registered(tmp_path, capsys):
    parser = argparse.ArgumentParser(prog="gaia-lab")
    add_platform_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["up", "--port", "0", "--data-dir", str(tmp_path), "--background"])
    assert (args.port, args.background, args.data_dir) == (0, True, str(tmp_path))
    args = parser.parse_args(["status", "--data-dir", str(tmp_path)])
    assert args.func(args) == 3
    assert "not running" in capsys.readouterr().out
    args = parser.parse_args(["status", "--data-dir", str(tmp_path), "--json"])
    assert args.func(args) == 3
    assert json.loads(capsys.readouterr().out)["running"] is False
    args = parser.parse_args(["down", "--data-dir", str(tmp_path)])
    assert args.func(args) == 0
    assert "was not running" in capsys.readouterr().out
    args = parser.parse_args(["up", "--show-config"])
    assert args.func(args) == 0
    assert "worker_memory_max" in capsys.readouterr().out
    args = parser.parse_args(["up", "--port", "99999", "--data-dir", str(tmp_path)])
    assert args.handler(args) == 1
    assert "between 0 and 65535" in capsys.readouterr().err
    # --workshop is the documented spelling, --workshop-dir its older alias; a missing folder is refused up front.
    assert parser.parse_args(["up", "--workshop", "notebooks/"]).workshop_dir == "notebooks/"
    assert parser.parse_args(["up", "--workshop-dir", "course"]).workshop_dir == "course"
    args = parser.parse_args(["up", "--workshop", str(tmp_path / "missing"), "--data-dir", str(tmp_path)])
    assert args.handler(args) == 1
    assert "no such folder" in capsys.readouterr().err


def test_data_dir_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("GAIA_LAB_DATA_DIR", str(tmp_path / "state"))
    assert PlatformConfig().resolved_data_dir() == (tmp_path / "state").resolve()
    shared = PlatformConfig(user_accounts="shared")
    assert shared.resolved_lake_dir() == (tmp_path / "state" / "lake").resolve()
    # With system accounts the default lake sits in the shared directory, where accounts may read it.
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    system = PlatformConfig(shared_dir=str(tmp_path / "srv"))
    assert system.accounts_mode() == "system"
    assert system.resolved_lake_dir() == (tmp_path / "srv" / "lake").resolve()
    assert PlatformConfig().resolved_shared_dir() == Path("/srv/gaia-lab")
    assert Path(PlatformConfig(data_dir="/x").resolved_data_dir()) == Path("/x")


def test_paths_other_accounts_cannot_reach_are_named(tmp_path):
    import tempfile

    from gaia_lab.platform.layout import unreachable

    # The first closed directory on the way is named (pytest's temporary directories are private).
    closed_parents = [p for p in reversed(tmp_path.parents) if not p.stat().st_mode & 0o001]
    if closed_parents:
        assert unreachable(tmp_path / "x").startswith(f"{closed_parents[0]} is mode ")
    with tempfile.TemporaryDirectory(dir="/var/tmp") as scratch:
        base = Path(scratch)
        base.chmod(0o755)
        (base / "open" / "deep").mkdir(parents=True)
        (base / "open").chmod(0o755)
        (base / "open" / "deep").chmod(0o711)
        (base / "open" / "deep" / "file").write_text("x")
        (base / "open" / "deep" / "file").chmod(0o644)
        (base / "open" / "deep" / "secret").write_text("x")
        (base / "open" / "deep" / "secret").chmod(0o600)
        closed = base / "closed"
        closed.mkdir(mode=0o700)
        (closed / "file").write_text("x")
        (base / "link").symlink_to(closed / "file")
        assert unreachable(base / "open" / "deep" / "file") is None  # entered, not listed: enough
        assert unreachable(closed / "file") == f"{closed} is mode 0700: other accounts cannot enter it"
        assert unreachable(base / "link") == f"{closed} is mode 0700: other accounts cannot enter it"  # followed
        assert unreachable(base / "open" / "deep" / "secret").endswith("is mode 0600: other accounts cannot read it")
        assert "No such file" in unreachable(base / "missing")


def test_processing_cluster_size_reaches_the_service_settings_as_cluster_options(tmp_path):
    config = load_config(
        None,
        data_dir=str(tmp_path / "data"),
        processes_workers=3,
        processes_worker_cores=2,
        processes_worker_memory="3 GiB",
    )
    settings = processes_service.settings(config, Layout.from_config(config), PORTS)
    assert (settings["workers"], settings["worker_cores"], settings["worker_memory_gib"]) == (3, 2, 3.0)
    # The gateway's options (the users' limits) accept what the service asks.
    options = spec.cluster_options(config.cluster_limits())
    asked = {"worker_memory": 3.0, "worker_cores": 2, "max_workers": 3}
    assert options.parse_options(asked) == {**options.parse_options({}), **asked}
