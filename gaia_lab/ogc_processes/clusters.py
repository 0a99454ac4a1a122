"""One Dask Gateway cluster per user, made on demand *as that user*, reused while their jobs run, shut down when idle.

The service holds no user's password: it asks the hub for an API token of the user (scope: the gateway only), so
the gateway starts the cluster as that user, under their account, options and limits, and the workers read data
with that user's rights. Nothing runs in the service's own process but the client side of Dask.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from gaia_lab.errors import ClusterError

LOG = logging.getLogger(__name__)
GIB = 2**30
# The platform settings (gaia-lab up; the chart's gaiaLab.processes values) behind each cluster option asked.
SETTINGS = {
    "worker_cores": "processes_worker_cores (chart: workerCores)",
    "worker_memory": "processes_worker_memory (chart: workerMemoryGiB)",
    "max_workers": "processes_workers (chart: workers)",
    "environment": "processes_worker_environment",
}
# How long stopping a cluster waits for the gateway to report it stopped: until then its workers may still write.
STOP_WAIT_SECONDS = 60.0


@dataclass(frozen=True)
class ClusterSettings:
    """Where the gateway and the hub answer, and what each user's processing cluster asks for."""

    gateway_address: str
    gateway_proxy_address: str
    hub_api_url: str
    service_token: str
    gateway_scope: str
    workers: int = 2
    worker_cores: int = 1
    worker_memory_gib: float = 1.0
    idle_timeout: float = 120.0
    environment: dict[str, str] = field(default_factory=dict)
    start_timeout: float = 240.0


@dataclass
class UserCluster:
    user: str
    gateway: Any
    cluster: Any
    client: Any
    jobs: set[str] = field(default_factory=set)
    last_used: float = field(default_factory=time.monotonic)

    @property
    def name(self) -> str:
        return str(self.cluster.name)


class ClusterPool:
    """The users' processing clusters. ``acquire`` / ``release`` bracket a job; a reaper stops idle clusters."""

    def __init__(self, settings: ClusterSettings, *, gateway_factory: Callable[[str], Any] | None = None) -> None:
        self.settings = settings
        self._clusters: dict[str, UserCluster] = {}
        self._starting: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[str, float]] = {}
        self._gateway_factory = gateway_factory or self._gateway
        self._stop = threading.Event()
        self._reaper = threading.Thread(target=self._reap, name="processes-cluster-reaper", daemon=True)
        self._reaper.start()

    # -- tokens and gateways ----------------------------------------------------------------------------------
    def user_token(self, user: str) -> str:
        """A hub token of ``user`` limited to the gateway, issued to this service (cached until near expiry)."""
        lifetime = 24 * 3600
        cached = self._tokens.get(user)
        if cached and cached[1] > time.time() + 3600:
            return cached[0]
        response = requests.post(
            f"{self.settings.hub_api_url.rstrip('/')}/users/{urllib.parse.quote(user, safe='')}/tokens",
            headers={"Authorization": f"token {self.settings.service_token}"},
            json={"scopes": [self.settings.gateway_scope], "expires_in": lifetime, "note": "processing jobs"},
            timeout=30,
        )
        if response.status_code != 201 and response.status_code != 200:
            raise ClusterError(
                f"the hub refused a gateway token for user {user!r} (HTTP {response.status_code}: "
                f"{response.text[:200]}); the processes service needs the 'tokens' scope"
            )
        token = str(response.json()["token"])
        self._tokens[user] = (token, time.time() + lifetime)
        return token

    def _gateway(self, user: str) -> Any:
        from dask_gateway import Gateway, JupyterHubAuth

        return Gateway(
            address=self.settings.gateway_address,
            proxy_address=self.settings.gateway_proxy_address,
            auth=JupyterHubAuth(api_token=self.user_token(user)),
        )

    # -- clusters ---------------------------------------------------------------------------------------------
    def acquire(self, user: str, job_id: str) -> UserCluster:
        """The user's cluster (started if none is running), with ``job_id`` counted as using it."""
        with self._lock:
            starting = self._starting.setdefault(user, threading.Lock())
        with starting:  # one start per user at a time; other users' starts go on in parallel
            with self._lock:
                current = self._clusters.get(user)
            if current is not None and not self._alive(current):
                self._discard(current, "its scheduler is gone")
                current = None
            if current is None:
                current = self._start(user)
                with self._lock:
                    self._clusters[user] = current
            with self._lock:
                current.jobs.add(job_id)
                current.last_used = time.monotonic()
            return current

    def release(self, user: str, job_id: str) -> None:
        with self._lock:
            current = self._clusters.get(user)
            if current is not None:
                current.jobs.discard(job_id)
                current.last_used = time.monotonic()

    def _options(self, gateway: Any, user: str) -> Any:
        """The user's cluster options with the service's cluster size; the gateway's limits for that user apply
        (ClusterError naming the option and the setting when the service asks more than the user may)."""
        settings = self.settings
        options = gateway.cluster_options()
        requested: dict[str, Any] = {
            "worker_cores": settings.worker_cores,
            "worker_memory": settings.worker_memory_gib,
            "max_workers": settings.workers,
        }
        if settings.environment:
            requested["environment"] = dict(settings.environment)
        offered = getattr(options, "_fields", {})
        for name, value in requested.items():
            if name not in offered:
                LOG.warning("the gateway offers no %r option: user %s's cluster gets its default", name, user)
                continue
            try:
                options[name] = value
            except (TypeError, ValueError) as exc:
                raise ClusterError(
                    f"the processes service asks {name}={value!r} for the cluster of user {user!r}, which the "
                    f"gateway refuses ({exc}); lower the service's {SETTINGS[name]} or raise the gateway's limit"
                ) from None
        return options

    def _start(self, user: str) -> UserCluster:
        settings = self.settings
        gateway = self._gateway_factory(user)
        try:
            options = self._options(gateway, user)
            cluster = gateway.new_cluster(options)
        except ClusterError:
            _close(gateway)
            raise
        except Exception as exc:
            _close(gateway)
            raise ClusterError(f"Dask Gateway could not start a cluster for user {user!r}: {exc}") from exc
        try:
            cluster.scale(settings.workers)
            client = cluster.get_client(set_as_default=False)
            client.wait_for_workers(1, timeout=settings.start_timeout)
            _preload(client, user)
        except Exception as exc:
            with contextlib.suppress(Exception):
                cluster.shutdown()
            _close(gateway)
            raise ClusterError(f"the cluster of user {user!r} did not start: {exc}") from exc
        LOG.info("started cluster %s for %s", cluster.name, user)
        return UserCluster(user=user, gateway=gateway, cluster=cluster, client=client)

    def _alive(self, current: UserCluster) -> bool:
        try:
            report = current.gateway.get_cluster(current.name)
        except Exception:
            return False
        return str(getattr(report.status, "name", report.status)).upper() == "RUNNING"

    def alive(self, user: str) -> bool:
        """Whether the user's cluster is running (the gateway says so)."""
        with self._lock:
            current = self._clusters.get(user)
        return current is not None and self._alive(current)

    def shutdown_user(self, user: str, reason: str) -> bool:
        """Stop the user's cluster now (a job failed with it, or was dismissed with nothing else running)."""
        with self._lock:
            current = self._clusters.get(user)
        if current is None:
            return False
        self._discard(current, reason)
        return True

    def _discard(self, current: UserCluster, reason: str) -> None:
        with self._lock:
            if self._clusters.get(current.user) is current:
                del self._clusters[current.user]
        LOG.info("stopping cluster %s of %s: %s", current.name, current.user, reason)
        with contextlib.suppress(Exception):
            current.client.close(timeout=10)
        try:
            current.gateway.stop_cluster(current.name)
        except Exception as exc:  # already gone: nothing left to stop
            LOG.info("cluster %s: %s", current.name, exc)
        else:
            _wait_stopped(current)
        # Stopped already: closing without shutdown only forgets it, so dask-gateway's exit hook does not try again.
        with contextlib.suppress(Exception):
            current.cluster.close(shutdown=False)
        _close(current.gateway)

    def jobs_on(self, user: str) -> set[str]:
        with self._lock:
            current = self._clusters.get(user)
            return set(current.jobs) if current else set()

    def cluster_name(self, user: str) -> str | None:
        with self._lock:
            current = self._clusters.get(user)
            return current.name if current else None

    def _reap(self) -> None:
        while not self._stop.wait(min(5.0, max(self.settings.idle_timeout / 4, 0.5))):
            cutoff = time.monotonic() - self.settings.idle_timeout
            with self._lock:
                idle = [c for c in self._clusters.values() if not c.jobs and c.last_used < cutoff]
            for current in idle:
                self._discard(current, f"idle for {self.settings.idle_timeout:g} s")

    def close(self) -> None:
        """Stop every cluster (the service is stopping: nothing may outlive it)."""
        self._stop.set()
        with self._lock:
            clusters = list(self._clusters.values())
        for current in clusters:
            self._discard(current, "the processes service is stopping")


def _preload(client: Any, user: str) -> None:
    """Workers import what jobs need as they join (a job does not pay it on each new worker); a failure here is
    the job's to report (the same imports fail there, with the job's error)."""
    from gaia_lab.ogc_processes.task import Preload

    try:
        client.register_plugin(Preload())
    except Exception as exc:
        LOG.warning("cluster of %s: workers did not preload the processing modules: %s", user, exc)


def _close(gateway: Any) -> None:
    with contextlib.suppress(Exception):
        gateway.close()


def _wait_stopped(current: UserCluster) -> None:
    """Until the gateway reports the cluster stopped or failed (its processes gone), at most STOP_WAIT_SECONDS."""
    from dask_gateway.client import ClusterStatus

    deadline = time.monotonic() + STOP_WAIT_SECONDS
    while time.monotonic() < deadline:
        try:
            report = current.gateway.get_cluster(current.name)
        except Exception:  # unknown to the gateway: gone
            return
        if report.status in (ClusterStatus.STOPPED, ClusterStatus.FAILED):
            return
        time.sleep(0.5)
    LOG.warning("cluster %s of %s not reported stopped after %.0f s", current.name, current.user, STOP_WAIT_SECONDS)
