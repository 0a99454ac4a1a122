"""What `gaia-lab up --slurm` generates: slurm.conf, the HPC gateway's config and options, the sudoers rule, the hub's
service, roles and session environment; and how gl.cluster(profile=...) is checked before any gateway is asked."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from dask_gateway_server.models import User
from traitlets.config import Config

from gaia_lab.cluster import cluster
from gaia_lab.errors import ClusterError, ConfigError
from gaia_lab.platform import hpc_gateway, hub_config, load_config
from gaia_lab.platform.hpc_backend import sudoers_rule
from gaia_lab.platform.layout import Layout, Ports
from gaia_lab.platform.slurm import Partition, SlurmSettings, node_hardware, render_conf

PORTS = Ports(18000, 18081, 18001, 18002, 18003, 18004, 18005, 18006, 18007, 18010, 0, 18015, 18016, 18017)


def _conf(text: str) -> dict[str, str]:
    pairs = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and " " not in line:
            key, value = line.split("=", 1)
            pairs[key] = value
    return pairs


def test_slurm_conf_is_one_loopback_node_without_cgroups(tmp_path: Path) -> None:
    settings = SlurmSettings(
        tmp_path,
        ctld_port=16817,
        slurmd_port=16818,
        hardware={"CPUs": "2", "RealMemory": "2000"},
        partitions=(Partition("gaia", 120, default=True, share_cores=2), Partition("short", 10, max_mem_mib=1024)),
    )
    text = render_conf(settings, hostname="login1")
    conf = _conf(text)
    assert conf["SlurmctldHost"] == "login1(127.0.0.1)"
    assert (conf["SlurmctldPort"], conf["SlurmdPort"]) == ("16817", "16818")
    assert conf["CommunicationParameters"] == "NoInAddrAny"
    assert conf["ProctrackType"] == "proctrack/linuxproc" and conf["TaskPlugin"] == "task/none"
    assert conf["JobAcctGatherType"] == "jobacct_gather/none"
    assert (conf["SelectType"], conf["SelectTypeParameters"]) == ("select/cons_tres", "CR_Core_Memory")
    assert conf["EnforcePartLimits"] == "ALL"  # over a limit: refused at submission, not pending for ever
    assert conf["AuthInfo"] == f"socket={tmp_path / 'munge' / 'munge.socket'}"
    for key in ("StateSaveLocation", "SlurmdSpoolDir", "SlurmctldLogFile", "SlurmdLogFile", "SlurmctldPidFile"):
        assert conf[key].startswith(str(tmp_path)), key
    lines = text.splitlines()
    assert "NodeName=gaia-node NodeAddr=127.0.0.1 NodeHostname=login1 CPUs=2 RealMemory=2000 State=UNKNOWN" in lines
    assert "PartitionName=gaia Nodes=ALL Default=YES MaxTime=120 OverSubscribe=FORCE:2 State=UP" in lines
    assert "PartitionName=short Nodes=ALL Default=NO MaxTime=10 MaxMemPerNode=1024 State=UP" in lines


def test_node_hardware_is_this_machines() -> None:
    hardware = node_hardware(shutil.which("slurmd", path="/usr/sbin:/usr/bin") or "slurmd")
    assert int(hardware["CPUs"]) == os.cpu_count()
    total_mib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**20
    assert 0 < int(hardware["RealMemory"]) < total_mib  # below the real memory, or slurmd drains the node


def _rendered_gateway(tmp_path: Path, limits: dict[str, object] | None = None) -> tuple[str, Config]:
    site = hpc_gateway.HpcGatewaySite(
        ip="127.0.0.1",
        api_port=18017,
        http_port=18015,
        tcp_port=18016,
        hub_api_url="http://127.0.0.1:18081/hub/api",
        state_dir=tmp_path,
        slurm_conf="/srv/slurm/slurm.conf",
        job_comment="gaia-lab:/data",
        session_python="/opt/sessions/bin/python",
        homes_dir="/srv/gaia-lab/homes",
        max_clusters_per_user=2,
    )
    text = hpc_gateway.render(site, limits or {}, spawn_timeout=240, marker="/data")
    c = Config()
    exec(compile(text, "dask_gateway_hpc_config.py", "exec"), {"get_config": lambda: c})
    return text, c


def test_hpc_gateway_config_is_hub_authenticated_under_its_own_prefix(tmp_path: Path) -> None:
    _text, c = _rendered_gateway(tmp_path)
    assert c.Proxy.prefix == "/services/dask-gateway-hpc"
    assert c.Proxy.address == "127.0.0.1:18015" and c.Proxy.tcp_address == "127.0.0.1:18016"
    assert c.DaskGateway.address == "127.0.0.1:18017"
    assert c.DaskGateway.backend_class == "gaia_lab.platform.hpc_backend.PlatformSlurmBackend"
    assert c.DaskGateway.authenticator_class.endswith("HubAuthenticator")
    assert c.JupyterHubAuthenticator.jupyterhub_service_name == "dask-gateway-hpc"
    backend = c.PlatformSlurmBackend
    assert backend.slurm_conf == "/srv/slurm/slurm.conf" and backend.job_comment == "gaia-lab:/data"
    assert backend.dask_gateway_jobqueue_launcher == "/opt/sessions/bin/dask-gateway-jobqueue-launcher"
    assert c.ClusterConfig.scheduler_cmd == ["/opt/sessions/bin/dask", "scheduler"]
    assert c.ClusterConfig.environment["GAIA_LAB_PLATFORM_ID"] == "/data"
    assert c.DBBackendBase.cluster_start_timeout == 240.0
    assert backend.max_clusters_per_user == 2


def test_hpc_options_are_limited_and_carry_partition_and_walltime(tmp_path: Path) -> None:
    _text, c = _rendered_gateway(tmp_path, {"walltime_minutes": {"default": 30, "max": 120}, "partition": "gaia"})
    options = c.Backend.cluster_options
    user = User("ana")
    chosen = options.get_configuration(
        options.parse_options({"partition": "short", "walltime_minutes": 60, "worker_memory": 2}), user
    )
    assert chosen["partition"] == "short" and chosen["walltime_minutes"] == 60
    assert chosen["worker_memory"] == 2 * 2**30 and chosen["worker_cores"] == 1
    default = options.get_configuration(options.parse_options({}), user)
    assert default["partition"] == "gaia" and default["walltime_minutes"] == 30
    with pytest.raises(ValueError, match="walltime_minutes"):
        options.parse_options({"walltime_minutes": 121})
    with pytest.raises(ValueError, match="partition 'gaia; rm'"):
        options.get_configuration(options.parse_options({"partition": "gaia; rm"}), user)


def test_hpc_limits_are_checked_at_config_load() -> None:
    with pytest.raises(ConfigError, match="unknown key 'cores'"):
        load_config(None, slurm=True, hpc_limits={"cores": 4})
    with pytest.raises(ConfigError, match="walltime_minutes"):
        load_config(None, slurm=True, hpc_limits={"walltime_minutes": {"default": 600, "max": 60}})
    assert load_config(None, slurm=True, hpc_limits={"partition": "gpu"}).slurm


@pytest.mark.skipif(shutil.which("visudo", path="/usr/sbin:/usr/bin") is None, reason="sudo is not installed")
def test_sudoers_rule_is_valid_and_names_only_the_launcher(tmp_path: Path) -> None:
    rule = sudoers_rule("gaia-gateway", "/opt/sessions/bin/dask-gateway-jobqueue-launcher", "gaia-users")
    assert "gaia-gateway ALL=(%gaia-users) NOPASSWD: /opt/sessions/bin/dask-gateway-jobqueue-launcher" in rule
    path = tmp_path / "sudoers"
    path.write_text(rule)
    visudo = shutil.which("visudo", path="/usr/sbin:/usr/bin")
    checked = subprocess.run([str(visudo), "-cf", str(path)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_hub_registers_the_hpc_gateway_and_sessions_find_it(tmp_path: Path) -> None:
    config = load_config(None, data_dir=str(tmp_path), lake_dir=str(tmp_path / "lake"), slurm=True)
    layout = Layout(tmp_path, tmp_path / "lake")
    text = hub_config.render(config, layout, PORTS, "/opt/sessions/bin/python")
    assert "'name': 'dask-gateway-hpc', 'url': 'http://127.0.0.1:18015'" in text
    assert "os.environ['GAIA_LAB_HPC_GATEWAY_HUB_TOKEN']" in text
    roles = {role["name"]: role["scopes"] for role in hub_config.roles(hpc=True)}
    for name in ("user", "server"):
        assert "access:services!service=dask-gateway-hpc" in roles[name]
    environment = hub_config.session_environment(config, layout, PORTS, "/opt/sessions/bin/python")
    assert environment["GAIA_LAB_HPC_GATEWAY_ADDRESS"] == "http://127.0.0.1:18000/services/dask-gateway-hpc"
    assert environment["GAIA_LAB_HPC_GATEWAY_PROXY_ADDRESS"] == "gateway://127.0.0.1:18016"
    without = load_config(None, data_dir=str(tmp_path), lake_dir=str(tmp_path / "lake"))
    assert "dask-gateway-hpc" not in hub_config.render(without, layout, PORTS, "/opt/sessions/bin/python")
    assert "GAIA_LAB_HPC_GATEWAY_ADDRESS" not in hub_config.session_environment(without, layout, PORTS, "/x/python")


def test_cluster_profile_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    def start(profile: str) -> None:
        with cluster(profile=profile):
            pass

    with pytest.raises(ClusterError, match=r"profile='cloud': choose one of \['default', 'hpc'\]"):
        start("cloud")
    monkeypatch.delenv("GAIA_LAB_HPC_GATEWAY_ADDRESS", raising=False)
    with pytest.raises(ClusterError, match=r"GAIA_LAB_HPC_GATEWAY_ADDRESS is not set.*gaia-lab up --slurm"):
        start("hpc")
