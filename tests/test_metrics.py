"""gaia_lab.metrics: what a session counts (searches per provider, HTTP reads attributed to providers) and how it
reports (batched, merged back when the exporter cannot be reached, never failing the caller).

The HTTP server here serves the demo lake with the standard library and logs what it sent, so the counts can be
checked against what went over the wire; the exporter's own parser (gaia_lab.platform.metrics_aggregate) checks the
reports. The real exporter, hub and Prometheus are in tests/platform/test_metrics_up.py.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import gaia_lab as gl
from gaia_lab import metrics
from gaia_lab.platform.metrics_aggregate import SessionTotals, parse_report


@pytest.fixture(autouse=True)
def fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(metrics.ENV_URL, raising=False)
    metrics.reset()
    yield
    metrics.reset()


class LoggingHandler(SimpleHTTPRequestHandler):
    """Static files; each response's status and body size logged on the server."""

    log: list[tuple[str, int, int]]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def copyfile(self, source: Any, outputfile: Any) -> None:
        data = source.read()
        outputfile.write(data)
        self.server.sent.append((self.path, 200, len(data)))  # type: ignore[attr-defined]

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        self.server.sent.append((self.path, code, 0))  # type: ignore[attr-defined]
        super().send_error(code, message, explain)


class ReportSink(ThreadingHTTPServer):
    """Takes reports as the exporter does (its parser), for one token; 503 while ``down``."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), self.Handler)
        self.totals = SessionTotals()
        self.down = False
        self.tokens: list[str] = []

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            server: ReportSink = self.server  # type: ignore[assignment]
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if server.down:
                self.send_response(503)
            else:
                server.tokens.append(self.headers["Authorization"])
                server.totals.add("ana", json.loads(body))
                self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/api/v1/report"


def _serve(server: ThreadingHTTPServer) -> Iterator[ThreadingHTTPServer]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def sink() -> Iterator[ReportSink]:
    yield from _serve(ReportSink())  # type: ignore[misc]


@pytest.fixture(scope="module")
def lake_over_http(lake_dir: Path) -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(LoggingHandler, directory=str(lake_dir)))
    server.sent = []  # type: ignore[attr-defined]
    yield from _serve(server)


def test_search_latency_goes_into_cumulative_buckets() -> None:
    metrics.record_search("odatis", 0.07)
    metrics.record_search("odatis", 3.0, error=True)
    metrics.record_search("aeris", 100.0)
    snapshot = metrics.snapshot()["search"]
    # Buckets are cumulative (le): 0.07 s counts from the 0.1 s bucket on, 3 s from 5 s on, 100 s in none.
    assert snapshot["odatis"]["buckets"] == [0, 1, 1, 1, 1, 1, 2, 2, 2, 2]
    assert snapshot["odatis"]["count"] == 2 and snapshot["odatis"]["errors"] == 1
    assert snapshot["odatis"]["sum"] == pytest.approx(3.07)
    assert snapshot["aeris"]["buckets"] == [0] * len(metrics.SEARCH_BUCKETS) and snapshot["aeris"]["count"] == 1
    # What a session sends is what the exporter accepts.
    searches, reads = parse_report(metrics._counters.take())
    assert searches["odatis"].count == 2 and reads == {}


def test_providers_beyond_the_bound_fold_into_other() -> None:
    for index in range(metrics.MAX_PROVIDERS + 10):
        metrics.record_read(f"provider-{index}", 1, requests=1)
    reads = metrics.snapshot()["reads"]
    assert len(reads) == metrics.MAX_PROVIDERS + 1
    assert reads[metrics.OTHER] == [10, 10, 0]


def test_reads_are_attributed_by_the_longest_prefix_else_the_host() -> None:
    metrics.attribute_provider("http://lake:8005/odatis/catalog.json", "odatis")
    metrics.attribute_provider("http://lake:8005/odatis/ostia/collection.json", "ostia")
    metrics.attribute_provider("https://stac.example.org/v1", "earth-search")
    metrics.attribute_provider("/local/path/catalog.json", "local")  # not over HTTP: nothing to count
    assert metrics.provider_of("http://lake:8005/odatis/sst.zarr/sst/0.0") == "odatis"
    assert metrics.provider_of("http://lake:8005/odatis/ostia/sst.zarr/zarr.json") == "ostia"
    assert metrics.provider_of("https://stac.example.org/v1/search") == "earth-search"
    assert metrics.provider_of("https://data.example.org/x.tif") == "data.example.org"
    assert "/local/path/" not in metrics.prefixes()


def test_reports_are_batched_and_kept_while_the_exporter_is_down(sink: ReportSink) -> None:
    metrics.configure(sink.url, "token-of-ana", every=3600)  # no periodic report during the test
    metrics.record_read("odatis", 1000, requests=2)
    metrics.record_search("odatis", 0.2)
    sink.down = True
    assert metrics.flush() is False  # refused: kept
    metrics.record_read("odatis", 500, requests=1, errors=1)
    sink.down = False
    assert metrics.flush() is True
    assert metrics.flush() is True  # nothing left: nothing sent
    search, reads = sink.totals.copy()
    assert reads == {("ana", "odatis"): [1500, 3, 1]}
    assert search[("ana", "odatis")].count == 1
    assert sink.tokens == ["token token-of-ana"]


def test_an_unreachable_exporter_never_fails_the_caller(sink: ReportSink) -> None:
    url = sink.url
    sink.shutdown()
    sink.server_close()
    metrics.configure(url, "token", every=3600)
    metrics.record_search("odatis", 0.1)
    assert metrics.flush() is False
    assert metrics._counters.search["odatis"]["count"] == 1  # kept for the next report


def test_catalogue_searches_and_zarr_reads_over_http_are_counted(
    lake_over_http: ThreadingHTTPServer, sink: ReportSink, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As in a session of the platform: the exporter's URL and the user's token in the environment.
    monkeypatch.setenv(metrics.ENV_URL, sink.url)
    monkeypatch.setenv(metrics.ENV_TOKEN, "token-of-ana")
    base = f"http://127.0.0.1:{lake_over_http.server_address[1]}/"
    catalog = gl.open_catalog(base + "federation.yaml")
    assert metrics.prefixes()[base + "odatis/"] == "odatis"
    results = catalog.search(q="sea surface temperature")
    assert not results.errors
    searched = metrics.snapshot()["search"]
    assert set(searched) == {p.name for p in catalog.providers}
    assert all(row["count"] == 1 for row in searched.values())

    sent = lake_over_http.sent  # type: ignore[attr-defined]
    sent.clear()
    cube = catalog["odatis/ostia-sst"].to_xarray()
    float(cube["sst"].mean().compute(scheduler="synchronous"))
    on_the_wire = [row for row in sent if row[0].startswith("/odatis/")]
    assert on_the_wire, sent
    reads = metrics.snapshot()["reads"]["odatis"]
    assert reads[0] == sum(size for _, status, size in on_the_wire if status == 200)
    assert reads[1] == len(on_the_wire)
    assert reads[2] == 0  # Zarr's probes for absent keys (404) are not errors
    assert metrics.flush() is True
    _, totals = sink.totals.copy()
    assert totals[("ana", "odatis")] == reads
