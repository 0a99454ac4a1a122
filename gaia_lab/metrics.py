"""What a session tells the platform's metrics: search latency and data read, per provider.

Searches and reads happen in users' kernels and Dask workers, far from the platform's exporter. Each process keeps
plain counters here (no prometheus_client, no network call per search or read: a dict update under a lock), and a
daemon thread sends what accumulated since its last report, every ``FLUSH_SECONDS``, to ``$GAIA_LAB_METRICS_URL``
with the session's own JupyterHub token (``$JUPYTERHUB_API_TOKEN``). The exporter asks the hub whose token it is and
labels the numbers with that user: nothing a session sends can name another user.

Reporting never fails a computation: a report that cannot be sent is kept for the next one (merged, so memory stays
bounded by the number of providers, at most ``MAX_PROVIDERS``), and errors are swallowed. Without
``$GAIA_LAB_METRICS_URL`` (a laptop, a test) nothing is sent and the counters only serve :func:`snapshot`.

Hooks: :class:`gaia_lab.catalog.Catalog` times each provider's search; HTTP reads made through fsspec (Zarr,
NetCDF, virtual Zarr over http/https) are counted by an aiohttp trace installed as fsspec's default ``get_client``
for http(s). A read is attributed to the provider whose URL prefix it starts with (:func:`attribute`, called for
every provider of an opened catalogue), else to its host. ``gl.cluster()`` hands workers the same settings through
a worker plugin (:class:`MetricsPlugin`).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

ENV_URL = "GAIA_LAB_METRICS_URL"
ENV_TOKEN = "JUPYTERHUB_API_TOKEN"
FLUSH_SECONDS = 10.0
# Upper bounds (seconds) of the search-latency histogram; the exporter uses the same ones.
SEARCH_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
MAX_PROVIDERS = 64
OTHER = "other"  # the label of whatever comes after MAX_PROVIDERS distinct providers
PLUGIN_NAME = "gaia-lab-metrics"


def _empty_histogram() -> dict[str, Any]:
    return {"buckets": [0] * len(SEARCH_BUCKETS), "sum": 0.0, "count": 0, "errors": 0}


class _Counters:
    """Deltas since the last report, bounded by MAX_PROVIDERS keys per kind."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.search: dict[str, dict[str, Any]] = {}
        self.reads: dict[str, list[int]] = {}  # provider -> [bytes, requests, errors]

    def _key(self, table: Mapping[str, object], provider: str) -> str:
        return provider if provider in table or len(table) < MAX_PROVIDERS else OTHER

    def add_search(self, provider: str, seconds: float, error: bool) -> None:
        with self.lock:
            row = self.search.setdefault(self._key(self.search, provider), _empty_histogram())
            for index, bound in enumerate(SEARCH_BUCKETS):
                if seconds <= bound:
                    row["buckets"][index] += 1
            row["sum"] += seconds
            row["count"] += 1
            row["errors"] += int(error)

    def add_read(self, provider: str, nbytes: int, requests: int, errors: int) -> None:
        with self.lock:
            row = self.reads.setdefault(self._key(self.reads, provider), [0, 0, 0])
            row[0] += nbytes
            row[1] += requests
            row[2] += errors

    def take(self) -> dict[str, Any]:
        """The deltas, reset to zero."""
        with self.lock:
            report = {
                "search": self.search,
                "reads": {p: {"bytes": b, "requests": r, "errors": e} for p, (b, r, e) in self.reads.items()},
            }
            self.search, self.reads = {}, {}
        return report

    def put_back(self, report: Mapping[str, Any]) -> None:
        """Merge a report that could not be sent into the current deltas."""
        for provider, row in report.get("search", {}).items():
            with self.lock:
                mine = self.search.setdefault(self._key(self.search, provider), _empty_histogram())
                mine["buckets"] = [a + b for a, b in zip(mine["buckets"], row["buckets"], strict=True)]
                for name in ("sum", "count", "errors"):
                    mine[name] += row[name]
        for provider, row in report.get("reads", {}).items():
            self.add_read(provider, row["bytes"], row["requests"], row["errors"])


_counters = _Counters()
_totals = _Counters()  # never reset: what this process did since it started (snapshot())
_prefixes: dict[str, str] = {}  # URL prefix -> provider
_prefix_lock = threading.Lock()
_listeners: list[Any] = []
_reporter: _Reporter | None = None


def record_search(provider: str, seconds: float, *, error: bool = False) -> None:
    """One provider's part of a search took ``seconds`` (failed or timed out when ``error``)."""
    _counters.add_search(provider, seconds, error)
    _totals.add_search(provider, seconds, error)
    _ensure_reporter()


def record_read(provider: str, nbytes: int = 0, *, requests: int = 0, errors: int = 0) -> None:
    """Bytes read from a provider's data, requests made, requests that failed."""
    _counters.add_read(provider, nbytes, requests, errors)
    _totals.add_read(provider, nbytes, requests, errors)
    _ensure_reporter()


def snapshot() -> dict[str, Any]:
    """Everything this process recorded since it started (what it reported, and what it has still to report)."""
    with _totals.lock:
        copied: dict[str, Any] = json.loads(json.dumps({"search": _totals.search, "reads": _totals.reads}))
    return copied


def attribute(prefix: str, provider: str) -> None:
    """Reads of URLs starting with ``prefix`` count for ``provider`` (the longest matching prefix wins)."""
    if not prefix.startswith(("http://", "https://")):
        return
    with _prefix_lock:
        if _prefixes.get(prefix) == provider:
            return
        _prefixes[prefix] = provider
        current = dict(_prefixes)
    for listener in list(_listeners):
        with contextlib.suppress(Exception):
            listener(current)


def attribute_provider(url: str, provider: str) -> None:
    """Attribute the folder of a provider's catalogue URL (where a static catalogue keeps its assets) to it."""
    if not url.startswith(("http://", "https://")):
        return
    last = urlsplit(url).path.rsplit("/", 1)[-1]
    # ".../odatis/catalog.json" keeps its assets under ".../odatis/"; an API root ("/v1") is a prefix itself.
    attribute(url[: url.rfind("/") + 1] if "." in last else url.rstrip("/") + "/", provider)


def provider_of(url: str) -> str:
    with _prefix_lock:
        best = max((p for p in _prefixes if url.startswith(p)), key=len, default=None)
        if best is not None:
            return _prefixes[best]
    return urlsplit(url).netloc or OTHER


def prefixes() -> dict[str, str]:
    with _prefix_lock:
        return dict(_prefixes)


# --- reporting ------------------------------------------------------------------------------------------------


class _Reporter:
    def __init__(self, url: str, token: str, every: float) -> None:
        # urllib's HTTP client is imported by reporting sessions only, and here rather than in the reporting
        # thread, which may first run at interpreter exit
        import urllib.request  # noqa: F401

        self.url, self.token, self.every = url, token, every
        self.wake = threading.Event()
        self.thread = threading.Thread(target=self._run, name="gaia-lab-metrics", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            self.wake.wait(self.every)
            self.wake.clear()
            if _reporter is not self:  # replaced (another URL or token) or stopped
                return
            self.send()

    def send(self) -> bool:
        import urllib.error
        import urllib.request

        report = _counters.take()
        if not report["search"] and not report["reads"]:
            return True
        request = urllib.request.Request(
            self.url,
            data=json.dumps(report).encode(),
            method="POST",
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                if response.status < 300:
                    return True
        except urllib.error.HTTPError as exc:
            if exc.code in (400, 413):  # the exporter will never take this report: keeping it would grow nothing
                return False
        except Exception:  # a report must never fail the user's work
            pass
        _counters.put_back(report)
        return False


def configure(url: str | None, token: str | None, *, every: float = FLUSH_SECONDS) -> None:
    """Report to ``url`` with ``token`` (None: stop reporting). Installs the HTTP read counting."""
    global _reporter
    if not url or not token:
        _reporter = None
        return
    install_http_tracing()
    if _reporter is None or (_reporter.url, _reporter.token) != (url, token):
        _reporter = _Reporter(url, token, every)


def configure_from_environment() -> None:
    if os.environ.get(ENV_URL) and os.environ.get(ENV_TOKEN):
        configure(os.environ[ENV_URL], os.environ[ENV_TOKEN])


def flush() -> bool:
    """Send what accumulated now; False if it could not be sent (it is kept for the next report)."""
    return _reporter.send() if _reporter is not None else False


def _ensure_reporter() -> None:
    if _reporter is None and os.environ.get(ENV_URL):
        configure_from_environment()


@atexit.register
def _last_report() -> None:
    with contextlib.suppress(Exception):
        flush()


# --- HTTP reads through fsspec ------------------------------------------------------------------------------------


def _trace_config() -> Any:
    import aiohttp

    async def on_chunk(session: Any, context: Any, params: Any) -> None:
        # Data only: the body of an error (a 404 page) is not data read. Bodies arrive after the request's end.
        if getattr(context, "status", 200) < 400:
            _count(str(params.url), len(params.chunk), 0, 0)

    async def on_end(session: Any, context: Any, params: Any) -> None:
        context.status = params.response.status
        _count(str(params.url), 0, 1, int(_failed(params.response.status)))

    async def on_exception(session: Any, context: Any, params: Any) -> None:
        _count(str(params.url), 0, 1, 1)

    trace = aiohttp.TraceConfig()
    trace.on_response_chunk_received.append(on_chunk)
    trace.on_request_end.append(on_end)
    trace.on_request_exception.append(on_exception)
    return trace


def _failed(status: int) -> bool:
    """A refused or failed request; not a 404, which readers get routinely when probing for optional keys (Zarr's
    zarr.json / .zmetadata, a missing chunk that means fill value)."""
    return status >= 500 or status in (401, 403, 429)


def _count(url: str, nbytes: int, requests: int, errors: int) -> None:
    with contextlib.suppress(Exception):
        record_read(provider_of(url), nbytes, requests=requests, errors=errors)


async def traced_client(**kwargs: Any) -> Any:
    """fsspec's HTTP client with the read-counting trace (fsspec's ``get_client`` hook)."""
    from fsspec.implementations.http import get_client

    kwargs["trace_configs"] = [*kwargs.get("trace_configs", []), _trace_config()]
    return await get_client(**kwargs)


def install_http_tracing() -> None:
    """Make fsspec's http(s) file systems count their reads, unless the user set their own ``get_client``."""
    import fsspec.config

    for protocol in ("http", "https"):
        defaults = fsspec.config.conf.setdefault(protocol, {})
        defaults.setdefault("get_client", traced_client)


def reset() -> None:
    """Forget what was recorded and the provider prefixes, stop reporting, uninstall the HTTP read counting."""
    global _counters, _totals, _reporter
    _counters, _totals, _reporter = _Counters(), _Counters(), None
    with _prefix_lock:
        _prefixes.clear()
    import fsspec.config

    for protocol in ("http", "https"):
        defaults = fsspec.config.conf.get(protocol, {})
        if defaults.get("get_client") is traced_client:
            del defaults["get_client"]


# --- Dask workers (gaia_lab.metrics_plugin carries these to them) -------------------------------------------------


def reporting() -> tuple[str, str] | None:
    """(url, token) this process reports to, or None."""
    _ensure_reporter()
    return (_reporter.url, _reporter.token) if _reporter is not None else None


def add_listener(listener: Any) -> None:
    """Call ``listener(prefixes)`` whenever a provider prefix is added."""
    _listeners.append(listener)


def remove_listener(listener: Any) -> None:
    with contextlib.suppress(ValueError):
        _listeners.remove(listener)
