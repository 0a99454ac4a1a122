"""The GAIA Lab exporter: a small HTTP server of the platform (``python -m gaia_lab.platform.metrics_exporter``).

- ``GET /metrics`` (Prometheus' scrape; ``Authorization: Bearer $GAIA_LAB_METRICS_TOKEN``): who uses what, asked
  of the hub's REST API and read from the gateway's database at each scrape; what sessions reported; the catalogue
  services probed (up, latency), since none of them exposes metrics of its own.
- ``POST /api/v1/report`` (sessions and their workers; ``Authorization: token <the user's JupyterHub token>``):
  a batch of deltas from :mod:`gaia_lab.metrics`. The hub says whose token it is; that user labels the numbers.
- ``GET /_health``: for the supervisor (no data).

Every other request, and every request without the right token, is refused: no metric is open to users.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from gaia_lab.metrics import SEARCH_BUCKETS
from gaia_lab.platform.metrics_aggregate import (
    InvalidReport,
    SessionTotals,
    Usage,
    UsageReport,
    aggregate,
    read_gateway_clusters,
)

ENV_SCRAPE_TOKEN = "GAIA_LAB_METRICS_TOKEN"
ENV_HUB_TOKEN = "JUPYTERHUB_API_TOKEN"
ENV_HUB_API = "JUPYTERHUB_API_URL"
MAX_REPORT_BYTES = 256 * 1024
TOKEN_CACHE_SECONDS = 300.0
PROBE_TIMEOUT = 5.0


class Hub:
    """The hub's REST API as the exporter's own service (list users, read servers) and as a token checker."""

    def __init__(self, api_url: str, token: str) -> None:
        self.api_url = api_url.rstrip("/")
        self.token = token
        self._owners: dict[str, tuple[str | None, float]] = {}
        self._lock = threading.Lock()

    def _get(self, path: str, token: str, accept: str = "application/json") -> Any:
        request = urllib.request.Request(
            self.api_url + path, headers={"Authorization": f"token {token}", "Accept": accept}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def users(self) -> list[dict[str, Any]]:
        users: list[dict[str, Any]] = []
        offset = 0
        while True:
            page = self._get(
                f"/users?include_stopped_servers=false&offset={offset}&limit=200",
                self.token,
                accept="application/jupyterhub-pagination+json",
            )
            users += page["items"]
            following = (page.get("_pagination") or {}).get("next")
            if not following:
                return users
            offset = int(following["offset"])

    def owner(self, token: str) -> str | None:
        """The hub user a token belongs to (None: invalid, or a service's), cached for a few minutes by digest."""
        digest = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        with self._lock:
            cached = self._owners.get(digest)
            if cached is not None and cached[1] > now:
                return cached[0]
        try:
            model = self._get("/user", token)
            name = str(model["name"]) if model.get("kind", "user") == "user" else None
        except urllib.error.HTTPError as exc:
            if exc.code not in (401, 403, 404):
                raise
            name = None
        with self._lock:
            if len(self._owners) > 10_000:
                self._owners.clear()
            self._owners[digest] = (name, now + (TOKEN_CACHE_SECONDS if name else 10.0))
        return name


def probe(url: str) -> tuple[bool, float]:
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT) as response:
            response.read(1)
            ok = 200 <= response.status < 400
    except (urllib.error.URLError, OSError, ValueError):
        ok = False
    return ok, time.monotonic() - started


def _usage_families(prefix: str, label: str, usage: dict[str, Usage]) -> Iterator[Metric]:
    fields = (
        ("running_servers", "Running user servers", "servers"),
        ("clusters", "Active Dask Gateway clusters", "clusters"),
        ("workers", "Running Dask workers", "workers"),
        ("cores", "Cores given to running schedulers and workers", "cores"),
        ("memory_bytes", "Memory given to running schedulers and workers", "memory"),
    )
    for name, help_text, attribute in fields:
        family = GaugeMetricFamily(f"{prefix}_{name}", f"{help_text}, per {label}", labels=[label])
        for key, value in sorted(usage.items()):
            family.add_metric([key], float(getattr(value, attribute)))
        yield family


class ExporterCollector(Collector):
    def __init__(self, hub: Hub, gateway_db: Path | None, totals: SessionTotals, probes: dict[str, str]) -> None:
        self.hub, self.gateway_db, self.totals, self.probes = hub, gateway_db, totals, probes
        self._pool = ThreadPoolExecutor(max_workers=max(len(probes), 1), thread_name_prefix="probe")

    def _usage(self) -> tuple[UsageReport | None, float]:
        started = time.monotonic()
        try:
            users = self.hub.users()
            clusters = read_gateway_clusters(self.gateway_db) if self.gateway_db else []
        except (OSError, ValueError, KeyError):
            return None, time.monotonic() - started
        return aggregate(users, clusters), time.monotonic() - started

    def collect(self) -> Iterator[Metric]:
        probes = {name: self._pool.submit(probe, url) for name, url in self.probes.items()}
        report, took = self._usage()
        up = GaugeMetricFamily("gaia_lab_usage_up", "1 when the hub and the gateway's database could be read")
        up.add_metric([], 1.0 if report else 0.0)
        yield up
        duration = GaugeMetricFamily("gaia_lab_usage_scrape_seconds", "Time taken to read the hub and the gateway")
        duration.add_metric([], took)
        yield duration
        if report is not None:
            active = GaugeMetricFamily("gaia_lab_active_users", "Users with a running server or an active cluster")
            active.add_metric([], float(report.active_users))
            yield active
            yield from _usage_families("gaia_lab_user", "user", report.per_user)
            yield from _usage_families("gaia_lab_group", "group", report.per_group)

        searches, reads = self.totals.copy()
        latency = HistogramMetricFamily(
            "gaia_lab_search_duration_seconds",
            "Time a provider took to answer a search made in a session, per user and provider",
            labels=["user", "provider"],
        )
        search_errors = CounterMetricFamily(
            "gaia_lab_search_errors", "Searches a provider failed or timed out", labels=["user", "provider"]
        )
        for (user, provider), histogram in sorted(searches.items()):
            pairs = zip(SEARCH_BUCKETS, histogram.buckets, strict=True)
            buckets = [(repr(bound), float(count)) for bound, count in pairs]
            buckets.append(("+Inf", float(histogram.count)))
            latency.add_metric([user, provider], buckets, histogram.sum)
            search_errors.add_metric([user, provider], float(histogram.errors))
        yield latency
        yield search_errors
        labels = ["user", "provider"]
        read_families = (
            CounterMetricFamily("gaia_lab_data_read_bytes", "Bytes read from a provider's data", labels=labels),
            CounterMetricFamily("gaia_lab_data_read_requests", "HTTP requests for a provider's data", labels=labels),
            CounterMetricFamily("gaia_lab_data_read_errors", "Failed requests for a provider's data", labels=labels),
        )
        for (user, provider), row in sorted(reads.items()):
            for family, value in zip(read_families, row, strict=True):
                family.add_metric([user, provider], float(value))
        yield from read_families

        service_up = GaugeMetricFamily("gaia_lab_service_up", "1 when a platform service answers", labels=["service"])
        service_latency = GaugeMetricFamily(
            "gaia_lab_service_probe_seconds", "Time a platform service took to answer its probe", labels=["service"]
        )
        for name, future in sorted(probes.items()):
            ok, seconds = future.result()
            service_up.add_metric([name], 1.0 if ok else 0.0)
            service_latency.add_metric([name], seconds)
        yield service_up
        yield service_latency


def _bearer(header: str | None) -> str | None:
    if not header or " " not in header:
        return None
    kind, _, value = header.partition(" ")
    return value.strip() if kind.lower() in ("bearer", "token") and value.strip() else None


class Exporter(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], scrape_token: str, hub: Hub, collector: ExporterCollector) -> None:
        super().__init__(address, Handler)
        self.scrape_token = scrape_token
        self.hub = hub
        self.totals = collector.totals
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(collector)


class Handler(BaseHTTPRequestHandler):
    server: Exporter

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per scrape and report would bury what matters in the log

    def _answer(self, status: int, body: bytes = b"", content_type: str = "text/plain; charset=utf-8") -> None:
        self.send_response(status)
        if status == 401:
            self.send_header("WWW-Authenticate", 'Bearer realm="gaia-lab-metrics"')
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path == "/_health":
            self._answer(200, b"ok\n")
            return
        if self.path.split("?")[0] != "/metrics":
            self._answer(404, b"not found\n")
            return
        token = _bearer(self.headers.get("Authorization"))
        if token is None or not hmac.compare_digest(token.encode(), self.server.scrape_token.encode()):
            self._answer(401, b"a bearer token is required\n")
            return
        self._answer(200, generate_latest(self.server.registry), "text/plain; version=0.0.4; charset=utf-8")

    def do_POST(self) -> None:
        if self.path != "/api/v1/report":
            self._answer(404, b"not found\n")
            return
        token = _bearer(self.headers.get("Authorization"))
        try:
            user = self.server.hub.owner(token) if token else None
        except (OSError, ValueError) as exc:
            self._answer(503, f"cannot check the token with the hub: {exc}\n".encode())
            return
        if user is None:
            self._answer(401, b"a JupyterHub user token is required\n")
            return
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= MAX_REPORT_BYTES:
            self._answer(413 if length else 400, b"a report is a JSON body of at most 256 KiB\n")
            return
        try:
            self.server.totals.add(user, json.loads(self.rfile.read(length)))
        except (ValueError, InvalidReport) as exc:
            self._answer(400, f"invalid report: {exc}\n".encode())
            return
        self._answer(204)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--gateway-db", help="dask-gateway-server's SQLite database")
    parser.add_argument("--probe", action="append", default=[], metavar="NAME=URL", help="a service to probe")
    args = parser.parse_args(argv)
    scrape_token, hub_token, hub_api = (os.environ.get(k, "") for k in (ENV_SCRAPE_TOKEN, ENV_HUB_TOKEN, ENV_HUB_API))
    if not scrape_token or not hub_token or not hub_api:
        parser.error(f"{ENV_SCRAPE_TOKEN}, {ENV_HUB_TOKEN} and {ENV_HUB_API} must be set")
    probes = dict(item.split("=", 1) for item in args.probe)
    hub = Hub(hub_api, hub_token)
    collector = ExporterCollector(hub, Path(args.gateway_db) if args.gateway_db else None, SessionTotals(), probes)
    server = Exporter((args.host, args.port), scrape_token, hub, collector)
    print(f"GAIA Lab exporter on http://{args.host}:{args.port}/metrics", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
