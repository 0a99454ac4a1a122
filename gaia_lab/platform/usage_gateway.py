"""dask-gateway-server backend hooks recording Dask clusters in the usage database (gaia_lab.platform.usage_store).

:class:`UsageRecordingMixin` goes before any ``DBBackendBase`` backend (local, jobqueue) in a class's bases:

- ``do_start_cluster``: a ``scheduler`` row opens (the scheduler's cores and memory from the cluster's config);
- ``do_start_worker`` / ``do_stop_worker``: one ``worker`` row per worker, with the worker's cores and memory;
- ``do_stop_cluster``: the scheduler's row closes, with the workers still open (dask-gateway marks a stopping
  cluster's workers stopped without calling ``do_stop_worker`` for each).

The user's groups come from the authenticated user of ``start_cluster`` (JupyterHub's groups). A stop the gateway
makes while reconciling after a downtime closes at its last heartbeat (UsageStore.stop).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from dask_gateway_server.backends.db_base import DBBackendBase
from traitlets import Unicode

from gaia_lab.platform.usage_recorder import RecordingProcess, recording_process

SOURCE = "gateway"


class UsageRecordingMixin(DBBackendBase):  # type: ignore[misc]
    usage_db = Unicode("", help="Usage database to record clusters and workers in (empty: no recording).", config=True)

    _usage_groups: dict[str, list[str]]

    @property
    def usage(self) -> RecordingProcess | None:
        if not self.usage_db:
            return None
        try:
            return recording_process(self.usage_db, SOURCE)
        except Exception as exc:  # a broken usage database must not stop clusters
            self.log.warning("usage accounting disabled: %s: %s", self.usage_db, exc)
            self.usage_db = ""
            return None

    async def setup(self, app: Any) -> None:
        await super().setup(app)
        _ = self.usage  # the run (and its heartbeat) starts with the gateway, before any reconciliation

    def _groups(self, username: str) -> list[str] | None:
        # None (unknown since a gateway restart): the store takes the cluster's recorded groups.
        return getattr(self, "_usage_groups", {}).get(username)

    async def _record(self, what: str, method: str, *args: Any, **kwargs: Any) -> None:
        usage = self.usage
        if usage is not None:
            await asyncio.to_thread(usage.safely, what, getattr(usage.store, method), *args, **kwargs)

    async def start_cluster(self, user: Any, cluster_options: dict[str, Any]) -> str:
        if not hasattr(self, "_usage_groups"):
            self._usage_groups = {}
        self._usage_groups[user.name] = sorted(str(group) for group in (getattr(user, "groups", None) or []))
        name: str = await super().start_cluster(user, cluster_options)
        return name

    async def do_start_cluster(self, cluster: Any) -> AsyncIterator[dict[str, Any]]:
        config = cluster.config
        await self._record(
            "recording a cluster start",
            "start",
            "scheduler",
            SOURCE,
            cluster.name,
            cluster.username,
            self._groups(cluster.username),
            cores=float(config.scheduler_cores),
            memory_bytes=int(config.scheduler_memory),
            cluster=cluster.name,
        )
        async for state in super().do_start_cluster(cluster):
            yield state

    async def do_stop_cluster(self, cluster: Any) -> None:
        try:
            await super().do_stop_cluster(cluster)
        finally:
            usage = self.usage
            await self._record(
                "recording a cluster stop",
                "stop",
                "scheduler",
                cluster.name,
                recorder=usage.recorder if usage else None,
                cluster_workers=True,
            )

    async def do_start_worker(self, worker: Any) -> AsyncIterator[dict[str, Any]]:
        cluster = worker.cluster
        config = cluster.config
        await self._record(
            "recording a worker start",
            "start",
            "worker",
            SOURCE,
            f"{cluster.name}/{worker.name}",
            cluster.username,
            self._groups(cluster.username),
            cores=float(config.worker_cores),
            memory_bytes=int(config.worker_memory),
            cluster=cluster.name,
        )
        async for state in super().do_start_worker(worker):
            yield state

    async def do_stop_worker(self, worker: Any) -> None:
        try:
            await super().do_stop_worker(worker)
        finally:
            usage = self.usage
            await self._record(
                "recording a worker stop",
                "stop",
                "worker",
                f"{worker.cluster.name}/{worker.name}",
                recorder=usage.recorder if usage else None,
            )
