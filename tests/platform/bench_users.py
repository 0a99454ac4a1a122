"""Benchmark: N users at once on one machine (a workshop), each logging in, getting a JupyterLab server and a
one-worker Dask Gateway cluster that computes, all held at the same time; run as root, each as a system account.

Reports wall time, per-user spawn and cluster times, and the memory the platform holds at the peak: the sum of its
processes' RSS (shared pages counted in every process), their PSS (shared pages split), and the machine's used memory
(MemTotal - MemAvailable) above where it started. Not a pytest test (it takes minutes and most of the machine):

    .venv/bin/python tests/platform/bench_users.py --users 30

It starts its own platform in temporary directories and removes the accounts it made, success or not.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import threading
import time
import traceback
import warnings
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from dask_gateway import Gateway, JupyterHubAuth  # noqa: E402
from hubclient import HubUser  # noqa: E402
from platform_support import ACCOUNT_PREFIX, ZERO_PORTS, session_python  # noqa: E402

from gaia_lab.platform import Platform, load_config  # noqa: E402
from gaia_lab.platform.accounts import Accounts, processes_of, stop_processes_of  # noqa: E402
from gaia_lab.platform.processes import marked_pids  # noqa: E402


def _kib(pid: int, field: str, file: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/{file}").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _used_kib() -> int:
    info = {line.split(":")[0]: int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()}
    return info["MemTotal"] - info["MemAvailable"]


class Sampler(threading.Thread):
    """Every 0.5 s: the platform's processes' RSS and PSS sums, and the machine's used memory; keeps the peaks."""

    def __init__(self, platform: Platform) -> None:
        super().__init__(daemon=True)
        self.platform = platform
        self.stopping = threading.Event()
        self.peak = {"rss_mib": 0.0, "pss_mib": 0.0, "used_mib": 0.0, "processes": 0}
        self.baseline_used = _used_kib()

    def pids(self) -> list[int]:
        pids = set(marked_pids(str(self.platform.layout.data_dir)))
        accounts = self.platform.accounts
        if accounts is not None:
            pids |= set(processes_of(accounts.uids()))
        return sorted(pids)

    def run(self) -> None:
        while not self.stopping.wait(0.5):
            pids = self.pids()
            rss = sum(_kib(pid, "VmRSS:", "status") for pid in pids) / 1024
            pss = sum(_kib(pid, "Pss:", "smaps_rollup") for pid in pids) / 1024
            used = (_used_kib() - self.baseline_used) / 1024
            for key, value in (("rss_mib", rss), ("pss_mib", pss), ("used_mib", used), ("processes", len(pids))):
                self.peak[key] = max(self.peak[key], value)


def one_user(platform: Platform, name: str, password: str, all_ready: threading.Barrier, timeout: float) -> dict:
    try:
        return _one_user(platform, name, password, all_ready, timeout)
    except BaseException:
        all_ready.abort()  # the others stop waiting for this one
        raise


def _one_user(platform: Platform, name: str, password: str, all_ready: threading.Barrier, timeout: float) -> dict:
    assert platform.info is not None
    started = time.monotonic()
    user = HubUser(platform.info.hub_url, name, password)
    user.login()
    user.create_token()
    spawn = user.start_server(timeout=timeout)
    cluster_started = time.monotonic()
    with Gateway(
        address=platform.info.gateway_url,
        proxy_address=platform.info.gateway_proxy_address,
        auth=JupyterHubAuth(api_token=user.token),
    ) as gateway:
        cluster = gateway.new_cluster()
        try:
            cluster.scale(1)
            with cluster.get_client(set_as_default=False) as client:
                client.wait_for_workers(1, timeout=timeout)
                total = client.submit(sum, range(100)).result(timeout=timeout)
                cluster_time = time.monotonic() - cluster_started
                ready = time.monotonic() - started
                with contextlib.suppress(threading.BrokenBarrierError):  # another user failed: no common peak
                    all_ready.wait(timeout=timeout)  # every server and cluster up at once: the peak
        finally:
            cluster.shutdown()
    return {"user": name, "spawn_s": spawn, "cluster_s": cluster_time, "ready_s": ready, "ok": total == 4950}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=30)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds the whole run may take")
    parser.add_argument("--lake", help="a built demo lake (default: build one)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        parser.error("run as root: every user gets a system account")
    warnings.simplefilter("ignore")  # the client (this venv) and the clusters (the sessions') differ in patch releases

    work = Path(tempfile.mkdtemp(prefix="gaia-lab-bench-"))
    shared = Path(tempfile.mkdtemp(prefix=f"gaia-lab-{ACCOUNT_PREFIX}", dir="/var/tmp"))
    shared.chmod(0o711)
    lake = shared / "lake"
    if args.lake:
        shutil.copytree(args.lake, lake)
    config = load_config(
        None,
        data_dir=str(work / "data"),
        lake_dir=str(lake),
        shared_dir=str(shared),
        account_prefix=ACCOUNT_PREFIX,
        python=session_python(),
        max_workers=1,
        worker_memory="1 GiB",
        spawn_timeout=600,
        **ZERO_PORTS,
    )
    platform = Platform(config, out=lambda line: None)
    accounts = Accounts(ACCOUNT_PREFIX, shared / "homes")
    result: dict = {"users": args.users, "cores": os.cpu_count()}
    try:
        platform.start()
        assert platform.secrets is not None
        sampler = Sampler(platform)
        sampler.start()
        barrier = threading.Barrier(args.users)
        started = time.monotonic()
        names = [f"student{i:02d}" for i in range(args.users)]
        pool = ThreadPoolExecutor(args.users)
        futures = [
            pool.submit(one_user, platform, name, platform.secrets.user_password, barrier, args.timeout)
            for name in names
        ]
        done, late = wait(futures, timeout=args.timeout)
        pool.shutdown(wait=False, cancel_futures=True)  # stopping the platform (below) ends what is still waiting
        wall = time.monotonic() - started
        sampler.stopping.set()
        sampler.join()
        runs, failures = [], [f"{len(late)} user(s) not done after {args.timeout:.0f} s"] if late else []
        for name, future in zip(names, futures, strict=True):
            if future not in done:
                continue
            try:
                runs.append(future.result())
            except Exception as exc:
                where = traceback.extract_tb(exc.__traceback__)
                steps = [f"{frame.name}:{frame.lineno}" for frame in where if frame.filename == __file__]
                failures.append(f"{name}: {exc!r} at {' > '.join(steps)}"[:400])
        result["failures"] = failures
        if not runs:
            raise RuntimeError(f"no user succeeded: {failures}")
        spawns = sorted(r["spawn_s"] for r in runs)
        clusters = sorted(r["cluster_s"] for r in runs)
        ready = sorted(r["ready_s"] for r in runs)
        result.update(
            {
                "succeeded": sum(r["ok"] for r in runs),
                "all_ok": all(r["ok"] for r in runs) and len(runs) == args.users,
                "wall_s": round(wall, 1),
                "spawn_s": {"median": round(spawns[len(spawns) // 2], 1), "max": round(spawns[-1], 1)},
                "cluster_s": {"median": round(clusters[len(clusters) // 2], 1), "max": round(clusters[-1], 1)},
                "ready_s": {"median": round(ready[len(ready) // 2], 1), "max": round(ready[-1], 1)},
                "peak": {key: round(value, 0) for key, value in sampler.peak.items()},
                "accounts": len(accounts.all()),
            }
        )
    finally:
        logs = ROOT / "artifacts" / "platform-users-logs"
        shutil.rmtree(logs, ignore_errors=True)
        shutil.copytree(platform.layout.logs_dir, logs, dirs_exist_ok=True)
        platform.stop(quiet=True)
        stop_processes_of(accounts.uids())
        for account in accounts.all():
            accounts.remove(account, force=True)
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(shared, ignore_errors=True)
    print(json.dumps(result, indent=2))
    out = ROOT / "artifacts" / "platform-users.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result


if __name__ == "__main__":
    main()
