"""Tiny real HTTP servers on 127.0.0.1 that play a STAC API and misbehave on purpose.

Each server answers like a minimal STAC API (landing page, conformance, one collection, one item, GET/POST /search)
except where its ``Fault`` applies: it sleeps past the client's timeout, sends truncated JSON, or answers with an HTTP
error status (500, 503, 401, 403), always or only for its first requests. ``stopped_server_url()`` gives a URL where
nothing listens any more. Servers run in a daemon thread and ``stop()`` unblocks any request still sleeping.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import urlsplit

HOST = "127.0.0.1"
COLLECTION_ID = "fault-collection"
ITEM_ID = "fault-item"
CONFORMANCE = [
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/collections",
    "https://api.stacspec.org/v1.0.0/item-search",
    "https://api.stacspec.org/v1.0.0/ogcapi-features",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
]
# Valid JSON cut short: what a proxy sends when the upstream dies mid-response.
BROKEN_JSON = b'{"type": "FeatureCollection", "features": [{"type": "Feature", "id": "fault-it'

FaultKind = Literal["none", "sleep", "broken-json", "status", "script"]
# (method, path with query, request body) -> (status, content type, body): a server playing any protocol.
Responder = Callable[[str, str, bytes], tuple[int, str, bytes]]


@dataclass(frozen=True)
class Fault:
    """How a fault server misbehaves.

    kind: ``sleep`` (wait ``delay`` seconds, then answer normally), ``broken-json`` (200 with truncated JSON),
    ``status`` (answer ``status`` with a JSON error body), ``script`` (``responder`` answers every request: a CSW
    or OGC API - Records server that lies), ``none`` (a well-behaved API).
    times: misbehave on the first ``times`` matching requests only, then answer normally (retry tests); None: always.
    after: answer the first ``after`` matching requests normally, then misbehave (a member that degrades).
    paths: path prefixes the fault applies to (e.g. ``("/search",)`` keeps the landing page working); None: all.
    """

    kind: FaultKind
    status: int = 500
    delay: float = 30.0
    times: int | None = None
    after: int = 0
    paths: tuple[str, ...] | None = None
    responder: Responder | None = None


@dataclass
class FaultServer:
    fault: Fault
    url: str = ""
    # (method, path) of every request received, in order.
    requests: list[tuple[str, str]] = field(default_factory=list)
    faults_served: int = 0
    matched: int = 0
    _httpd: ThreadingHTTPServer | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _stopping: threading.Event = field(default_factory=threading.Event, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def start(self) -> FaultServer:
        handler = type("Handler", (_Handler,), {"server_state": self})
        httpd = _QuietServer((HOST, 0), handler)
        self._httpd = httpd
        self.url = f"http://{HOST}:{httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"fault-server-{self.fault.kind}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes sleeping handlers so nothing outlives the server
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FaultServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _take_fault(self, path: str) -> bool:
        """Whether this request gets the fault; counts it if so."""
        fault = self.fault
        if fault.kind == "none":
            return False
        if fault.paths is not None and not path.startswith(fault.paths):
            return False
        with self._lock:
            self.matched += 1
            if self.matched <= fault.after:
                return False
            if fault.times is not None and self.faults_served >= fault.times:
                return False
            self.faults_served += 1
            return True


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (its timeout) closes the socket under a sleeping handler: expected, not an error.
        pass


class _Handler(BaseHTTPRequestHandler):
    server_state: FaultServer
    protocol_version = "HTTP/1.0"  # one request per connection: no idle keep-alive threads at stop()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the requests are recorded in FaultServer.requests

    def do_GET(self) -> None:
        if self._scripted("GET", b""):
            return
        self._dispatch("GET", None)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if self._scripted("POST", raw):
            return
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        self._dispatch("POST", body)

    def _scripted(self, method: str, raw: bytes) -> bool:
        state = self.server_state
        if state.fault.kind != "script" or state.fault.responder is None:
            return False
        with state._lock:
            state.requests.append((method, self.path))
        status, content_type, body = state.fault.responder(method, self.path, raw)
        self._send(status, body, content_type)
        return True

    def _dispatch(self, method: str, body: Any) -> None:
        state = self.server_state
        path = urlsplit(self.path).path
        with state._lock:
            state.requests.append((method, path))
        fault = state.fault
        if state._take_fault(path):
            if fault.kind == "sleep":
                if state._stopping.wait(fault.delay):
                    return  # stopped while sleeping: drop the connection
            elif fault.kind == "broken-json":
                self._send(200, BROKEN_JSON)
                return
            elif fault.kind == "status":
                self._send_status(fault.status)
                return
        if method == "POST" and body is None:
            self._send(400, json.dumps({"code": "BadRequest", "description": "body is not JSON"}).encode())
            return
        document = self._document(method, path)
        if document is None:
            self._send(404, json.dumps({"code": "NotFound", "description": f"no {path}"}).encode())
        else:
            content_type = "application/geo+json" if document.get("type") in {"Feature", "FeatureCollection"} else None
            self._send(200, json.dumps(document).encode(), content_type)

    def _send_status(self, status: int) -> None:
        description = {
            401: "authentication required",
            403: "not allowed to read this catalogue",
            500: "internal server error (on purpose)",
            503: "temporarily unavailable (on purpose)",
        }.get(status, "error (on purpose)")
        headers = {}
        if status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="gaia-lab-fault-server"'
        if status in {429, 503}:
            headers["Retry-After"] = "0"
        body = json.dumps({"code": str(status), "description": description}).encode()
        self._send(status, body, headers=headers)

    def _send(
        self, status: int, body: bytes, content_type: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type or "application/json")
            self.send_header("Content-Length", str(len(body)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client timed out and left

    def _document(self, method: str, path: str) -> dict[str, Any] | None:
        base = self.server_state.url
        path = path.rstrip("/") or "/"
        if path == "/" and method == "GET":
            return landing_page(base, self.server_state.fault)
        if path == "/conformance" and method == "GET":
            return {"conformsTo": CONFORMANCE}
        if path == "/collections" and method == "GET":
            return {"collections": [collection(base)], "links": [_link("self", f"{base}/collections")]}
        if path == f"/collections/{COLLECTION_ID}" and method == "GET":
            return collection(base)
        if path == f"/collections/{COLLECTION_ID}/items/{ITEM_ID}" and method == "GET":
            return item(base)
        if path in {"/search", f"/collections/{COLLECTION_ID}/items"}:
            return {"type": "FeatureCollection", "features": [item(base)], "links": [_link("self", base + path)]}
        return None


def _link(rel: str, href: str, media_type: str = "application/json", **extra: str) -> dict[str, str]:
    return {"rel": rel, "href": href, "type": media_type, **extra}


def landing_page(base: str, fault: Fault) -> dict[str, Any]:
    return {
        "type": "Catalog",
        "id": f"fault-{fault.kind}",
        "stac_version": "1.1.0",
        "title": f"Fault server ({fault.kind})",
        "description": "A STAC API that misbehaves on purpose",
        "conformsTo": CONFORMANCE,
        "links": [
            _link("self", f"{base}/"),
            _link("root", f"{base}/"),
            _link("conformance", f"{base}/conformance"),
            _link("data", f"{base}/collections"),
            _link("search", f"{base}/search", "application/geo+json", method="GET"),
            _link("search", f"{base}/search", "application/geo+json", method="POST"),
        ],
    }


def collection(base: str) -> dict[str, Any]:
    return {
        "type": "Collection",
        "id": COLLECTION_ID,
        "stac_version": "1.1.0",
        "title": "Sea surface temperature (fault server)",
        "description": "One item, served by a fault server",
        "license": "CC-BY-4.0",
        "keywords": ["sea_surface_temperature"],
        "extent": {
            "spatial": {"bbox": [[-10.0, 40.0, 10.0, 55.0]]},
            "temporal": {"interval": [["2020-01-01T00:00:00Z", "2020-12-31T00:00:00Z"]]},
        },
        "links": [
            _link("self", f"{base}/collections/{COLLECTION_ID}"),
            _link("root", f"{base}/"),
            _link("items", f"{base}/collections/{COLLECTION_ID}/items", "application/geo+json"),
        ],
    }


def item(base: str) -> dict[str, Any]:
    return {
        "type": "Feature",
        "stac_version": "1.1.0",
        "id": ITEM_ID,
        "collection": COLLECTION_ID,
        "geometry": {
            "type": "Polygon",
            "coordinates": [[[-10.0, 40.0], [10.0, 40.0], [10.0, 55.0], [-10.0, 55.0], [-10.0, 40.0]]],
        },
        "bbox": [-10.0, 40.0, 10.0, 55.0],
        "properties": {"datetime": "2020-06-01T00:00:00Z", "title": "SST 2020-06-01"},
        "assets": {},
        "links": [
            _link("self", f"{base}/collections/{COLLECTION_ID}/items/{ITEM_ID}", "application/geo+json"),
            _link("collection", f"{base}/collections/{COLLECTION_ID}"),
            _link("root", f"{base}/"),
        ],
    }


def start_fault_server(fault: Fault) -> FaultServer:
    return FaultServer(fault).start()


def stopped_server_url() -> str:
    """The URL of a server that was started, then stopped: connecting is refused."""
    server = start_fault_server(Fault("none"))
    server.stop()
    with socket.socket() as sock:
        # Proves the port is closed now (the kernel could hand it out again later, but not in the next instant).
        if sock.connect_ex((HOST, int(server.url.rsplit(":", 1)[1]))) == 0:
            raise RuntimeError(f"{server.url} still accepts connections after stop()")
    return server.url
