"""The HPC gateway's backend: dask-gateway's jobqueue ``SlurmBackend``, every scheduler and worker a Slurm job
submitted as the hub user's own account, and the options users choose (partition, cores, memory, walltime).

What it adds to upstream's backend:

- the hub user's system account (made on first use, like the local gateway's) submits, through
  ``sudo -u <account> dask-gateway-jobqueue-launcher`` (the sudoers rule: :func:`sudoers_rule`); started without
  root, the platform's own account submits, without sudo;
- jobs carry the platform's comment and job name (`gaia-lab down` cancels leftovers by them) and a time limit;
- ``SLURM_CONF`` for every Slurm command, so the platform can use a Slurm of its own;
- a cluster request Slurm would refuse (unknown partition, over a partition's limits) is refused at once, naming
  Slurm's reason (``sbatch --test-only``): upstream only marks the cluster failed, with no reason, later.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import re
from typing import Any

from dask_gateway_server.backends.base import PublicException
from dask_gateway_server.backends.jobqueue.slurm import SlurmBackend, SlurmClusterConfig, slurm_format_memory
from traitlets import Integer, Unicode

from gaia_lab.platform import spec
from gaia_lab.platform.account_traits import AccountSettings

PARTITION_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# The limits of the HPC options; the platform's settings override them (PlatformConfig.hpc_limits()).
DEFAULT_HPC_LIMITS: dict[str, Any] = {
    "worker_cores": {"default": 1, "max": 2},
    "worker_memory_gib": {"default": 1.0, "max": 4.0},
    "max_workers": {"default": 4, "max": 8},
    "walltime_minutes": {"default": 60, "max": 24 * 60},
    "partition": "",  # the default partition; empty: Slurm's default
    "max_environment_variables": 32,
}


class PlatformSlurmClusterConfig(SlurmClusterConfig):  # type: ignore[misc]
    walltime_minutes = Integer(60, help="Time limit of every job of the cluster (sbatch --time), minutes.", config=True)


def hpc_cluster_options(limits: dict[str, Any], base_environment: dict[str, str] | None = None) -> Any:
    """dask-gateway ``Options`` of the HPC gateway; a request outside the limits is refused naming the option. The
    partition is checked by Slurm itself (its name only here): the site's partitions and their limits are Slurm's."""
    from dask_gateway_server.options import Float, Integer, Mapping, Options, String

    cores, memory, workers = limits["worker_cores"], limits["worker_memory_gib"], limits["max_workers"]
    walltime = limits["walltime_minutes"]
    base = dict(base_environment or {})

    def handler(options: Any, user: Any) -> dict[str, Any]:
        partition = options.partition.strip()
        if partition and not PARTITION_NAME.match(partition):
            raise ValueError(f"partition {partition!r}: letters, digits, '_', '.', '-' only")
        memory_bytes = int(options.worker_memory * spec.GIB)
        return {
            "worker_cores": options.worker_cores,
            "worker_threads": options.worker_cores,
            "worker_memory": memory_bytes,
            "cluster_max_workers": options.max_workers,
            "partition": partition,
            "walltime_minutes": options.walltime_minutes,
            "environment": spec.check_environment(options.environment, base, limits["max_environment_variables"]),
        }

    return Options(
        String("partition", default=str(limits["partition"]), label="Slurm partition"),
        Integer("worker_cores", default=cores["default"], min=1, max=cores["max"], label="Worker cores"),
        Float(
            "worker_memory",
            default=float(memory["default"]),
            min=spec.MIN_WORKER_MEMORY_GIB,
            max=float(memory["max"]),
            label="Worker memory (GiB)",
        ),
        Integer("max_workers", default=workers["default"], min=1, max=workers["max"], label="Max workers"),
        Integer(
            "walltime_minutes", default=walltime["default"], min=1, max=walltime["max"], label="Walltime (minutes)"
        ),
        Mapping("environment", default={}, label="Environment variables"),
        handler=handler,
    )


def slurm_time(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}:00"


def sudoers_rule(gateway_account: str, launcher: str, account_group: str | None = None) -> str:
    """The sudoers rule letting the gateway's account run the launcher, and nothing else, as the users' accounts
    (``account_group``: only members of that group; None: any account but root)."""
    runas = f"%{account_group}" if account_group else "ALL, !root"
    return (
        "# dask-gateway's jobqueue backend submits Slurm jobs as each user through this one program.\n"
        f"Defaults!{launcher} !requiretty, env_reset\n"
        f"{gateway_account} ALL=({runas}) NOPASSWD: {launcher}\n"
    )


class PlatformSlurmBackend(AccountSettings, SlurmBackend):  # type: ignore[misc]
    """Schedulers and workers as Slurm jobs of the hub user's account (of the platform's own account without
    root)."""

    slurm_conf = Unicode(
        "", help="slurm.conf the Slurm commands read (SLURM_CONF); empty: Slurm's default.", config=True
    )
    job_comment = Unicode("", help="Comment of every job (the platform's marker, for `gaia-lab down`).", config=True)
    job_name = Unicode("gaia-lab-dask", help="Name of every job.", config=True)
    scheduler_host = Unicode(
        "0.0.0.0",
        help="Address schedulers and workers listen on; on one machine 127.0.0.1, on a site the compute nodes' "
        "(0.0.0.0: all of a node's interfaces, reached through the gateway's proxy).",
        config=True,
    )
    max_clusters_per_user = Integer(0, help="Most active clusters one user may have (0: no limit).", config=True)
    use_system_accounts = Unicode(
        "auto",
        help="'system': submit as each user's account; 'shared': as this one; 'auto': 'system' as root.",
        config=True,
    )

    @property
    def default_host(self) -> str:
        return str(self.scheduler_host)

    def _system(self) -> bool:
        if self.use_system_accounts == "auto":
            return os.geteuid() == 0
        return bool(self.use_system_accounts == "system")

    def account_of(self, username: str) -> tuple[str, str]:
        """(account name, home) running ``username``'s jobs; makes the account when missing."""
        if self._system():
            account = self.accounts.ensure(username)
            return account.name, str(account.home)
        entry = pwd.getpwuid(os.getuid())
        return entry.pw_name, entry.pw_dir

    def get_staging_directory(self, cluster: Any) -> str:
        name, home = self.account_of(cluster.username)
        staging = str(cluster.config.staging_directory).format(home=home, username=name)
        return os.path.join(staging, str(cluster.name))

    def slurm_env(self) -> dict[str, str]:
        return {"SLURM_CONF": self.slurm_conf} if self.slurm_conf else {}

    def get_env(self, cluster: Any) -> dict[str, str]:
        env: dict[str, str] = super().get_env(cluster)
        env.update(self.slurm_env())
        return env

    def get_submit_cmd_env_stdin(self, cluster: Any, worker: Any = None) -> tuple[list[str], dict[str, str], str]:
        cmd, env, script = super().get_submit_cmd_env_stdin(cluster, worker)
        cmd = [f"--job-name={self.job_name}" if arg == "--job-name=dask-gateway" else arg for arg in cmd]
        cmd.insert(1, f"--time={slurm_time(cluster.config.walltime_minutes)}")
        if self.job_comment:
            cmd.insert(1, f"--comment={self.job_comment}")
        return cmd, env, script

    def get_stop_cmd_env(self, job_id: str) -> tuple[list[str], dict[str, str]]:
        return [self.cancel_command, job_id], self.slurm_env()

    def get_status_cmd_env(self, job_ids: list[str]) -> tuple[list[str], dict[str, str]]:
        cmd, _env = super().get_status_cmd_env(job_ids)
        return cmd, self.slurm_env()

    async def do_as_user(self, user: str, action: str, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()
        account, _home = await loop.run_in_executor(None, self.account_of, user)
        if account == pwd.getpwuid(os.getuid()).pw_name:
            return await self._run_launcher([self.dask_gateway_jobqueue_launcher], action, kwargs)
        return await self._run_launcher(["sudo", "-nHu", account, self.dask_gateway_jobqueue_launcher], action, kwargs)

    async def _run_launcher(self, cmd: list[str], action: str, kwargs: dict[str, Any]) -> Any:
        import json

        kwargs["action"] = action
        proc = await asyncio.create_subprocess_exec(
            *cmd,
            env={"PATH": "/usr/bin:/bin"} if cmd[0] != "sudo" else {},
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate(json.dumps(kwargs).encode("utf8"))
        if proc.returncode != 0:
            raise Exception(
                f"Error running `dask-gateway-jobqueue-launcher` (code {proc.returncode}): "
                f"{out.decode(errors='replace')} {err.decode(errors='replace')}"
            )
        result = json.loads(out)
        if not result["ok"]:
            raise Exception(result["error"])
        return result["returncode"], result["stdout"], result["stderr"]

    async def start_cluster(self, user: Any, cluster_options: dict[str, Any]) -> str:
        if self.max_clusters_per_user:
            active = self.db.list_clusters(username=user.name)
            if len(active) >= self.max_clusters_per_user:
                raise PublicException(
                    f"user {user.name!r} already has {len(active)} active cluster(s), the limit is "
                    f"{self.max_clusters_per_user}; shut one down first (gateway.list_clusters())"
                )
        _options, config = await self.process_cluster_options(user, cluster_options)
        for cores, memory in (
            (config.scheduler_cores, config.scheduler_memory),
            (config.worker_cores, config.worker_memory),
        ):
            await self.check_submission(user.name, config, cores, memory)
        name: str = await super().start_cluster(user, cluster_options)
        return name

    async def check_submission(self, username: str, config: Any, cores: int, memory: int) -> None:
        """PublicException (HTTP 422, its message shown to the client) naming Slurm's reason when Slurm would
        refuse a job of this shape."""
        cmd = [self.submit_command, "--test-only", f"--job-name={self.job_name}"]
        if config.partition:
            cmd.append(f"--partition={config.partition}")
        cmd += [
            f"--time={slurm_time(config.walltime_minutes)}",
            f"--cpus-per-task={cores}",
            f"--mem={slurm_format_memory(memory)}",
            "--output=/dev/null",
        ]
        try:
            code, _out, err = await self.do_as_user(
                user=username, action="start", cmd=cmd, env=self.slurm_env(), stdin="#!/bin/sh\ntrue\n"
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # Not Slurm's answer but the way to it (sudo, the launcher, the account): say so rather than HTTP 500.
            self.log.exception("Checking a job of user %s with sbatch --test-only failed", username)
            raise PublicException(f"could not check the cluster's jobs with Slurm: {exc}") from exc
        if code != 0:
            reasons = [line.split("error:", 1)[1].strip() for line in err.splitlines() if "error:" in line]
            reason = "; ".join(reasons) or err.strip() or f"sbatch exited with code {code}"
            where = f"partition {config.partition!r}" if config.partition else "the default partition"
            raise PublicException(f"Slurm refused the cluster's jobs ({where}): {reason}")
