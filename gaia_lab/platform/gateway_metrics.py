"""Prometheus metrics of dask-gateway-server, which has none of its own (dask/dask-gateway issue 370).

:class:`GatewayMetricsMixin` (part of the platform's gateway backends) adds ``GET /api/metrics`` to the gateway's
API, on its private address and, through its proxy, under ``/services/dask-gateway``. The route exists only when the
gateway has ``$GAIA_LAB_METRICS_TOKEN`` (``gaia-lab up --metrics``), and answers only to that bearer token.

Served from the backend's in-memory state: clusters and workers per status, and how long clusters and workers took
to start (from their creation to running), observed as they start.
"""

from __future__ import annotations

import hmac
import os
import time
from typing import Any

from aiohttp import web
from dask_gateway_server.backends.db_base import DBBackendBase, JobStatus
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

ENV_TOKEN = "GAIA_LAB_METRICS_TOKEN"
START_BUCKETS = (1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)


class _StateCollector:
    def __init__(self, backend: DBBackendBase) -> None:
        self.backend = backend

    def collect(self) -> Any:
        clusters = GaugeMetricFamily(
            "dask_gateway_clusters", "Active clusters of the gateway, per status", labels=["status"]
        )
        workers = GaugeMetricFamily("dask_gateway_workers", "Workers of active clusters, per status", labels=["status"])
        cluster_counts = dict.fromkeys((s.name.lower() for s in JobStatus), 0)
        worker_counts = dict(cluster_counts)
        for cluster in self.backend.db.active_clusters():
            cluster_counts[cluster.status.name.lower()] += 1
            for worker in cluster.workers.values():
                worker_counts[worker.status.name.lower()] += 1
        for status, count in cluster_counts.items():
            clusters.add_metric([status], float(count))
        for status, count in worker_counts.items():
            workers.add_metric([status], float(count))
        metrics: list[Metric] = [clusters, workers]
        yield from metrics


class GatewayMetricsMixin(DBBackendBase):  # type: ignore[misc]
    async def setup(self, app: web.Application) -> None:
        await super().setup(app)
        token = os.environ.get(ENV_TOKEN, "")
        if not token:
            return
        self._metrics_registry = CollectorRegistry(auto_describe=False)
        self._metrics_registry.register(_StateCollector(self))
        self._cluster_start = Histogram(
            "dask_gateway_cluster_start_seconds",
            "Time from a cluster's creation to its scheduler running",
            buckets=START_BUCKETS,
            registry=self._metrics_registry,
        )
        self._worker_start = Histogram(
            "dask_gateway_worker_start_seconds",
            "Time from a worker's creation to it running",
            buckets=START_BUCKETS,
            registry=self._metrics_registry,
        )

        async def metrics(request: web.Request) -> web.Response:
            header = request.headers.get("Authorization", "")
            kind, _, value = header.partition(" ")
            if kind.lower() not in ("bearer", "token") or not hmac.compare_digest(value.encode(), token.encode()):
                return web.Response(
                    status=401, text="a bearer token is required\n", headers={"WWW-Authenticate": "Bearer"}
                )
            body = generate_latest(self._metrics_registry)
            return web.Response(body=body, content_type="text/plain", charset="utf-8")

        # The app is not running yet (the gateway starts it after the backend's setup): routes may still be added.
        app.router.add_get("/api/metrics", metrics)

    async def _cluster_to_running(self, cluster: Any) -> None:
        await super()._cluster_to_running(cluster)
        if hasattr(self, "_cluster_start"):
            self._cluster_start.observe(max(time.time() - cluster.start_time / 1000, 0.0))

    async def on_cluster_heartbeat(self, cluster_name: str, msg: dict[str, Any]) -> None:
        # Workers turn running in the scheduler's heartbeat: those not running before it and running after it.
        cluster = self.db.get_cluster(cluster_name)
        starting = [w for w in cluster.workers.values() if w.status < JobStatus.RUNNING] if cluster else []
        await super().on_cluster_heartbeat(cluster_name, msg)
        if hasattr(self, "_worker_start"):
            for worker in starting:
                if worker.status == JobStatus.RUNNING:
                    self._worker_start.observe(max(time.time() - worker.start_time / 1000, 0.0))
