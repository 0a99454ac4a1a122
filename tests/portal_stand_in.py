"""A stand-in for the federation's STAC API, behind the portal's one seam (``portal_stac_api_url``), so the portal's
browser tests run where that service is not part of the platform.

It answers the part of the STAC API the portal's pages use, from the demo lake through ``gaia_lab.catalog`` (the
same federation, ranking and thesaurus the federation API serves): ``/``, ``/collections`` (with ``q``, reporting
``federation:query_terms``), ``/collections/{id}``, ``/collections/{id}/items``, and the three starred endpoints
(``GET /starred``, ``PUT`` / ``DELETE /starred/{id}``; one set, for the one test user, since it has no login).
Collection ids and fields are the federation API's: ``<provider>.<collection>``, ``gaia:hub``, ``federation:entry``.
CORS is open: the page calls it from the hub's origin, on another port.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import gaia_lab as gl

HOST = "127.0.0.1"


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


# Reserved when the test session starts, so the session's platform can be configured with it before the stand-in runs.
PORT = _free_port()
URL = f"http://{HOST}:{PORT}/"


def api_id(entry_id: str) -> str:
    provider, local = entry_id.split("/", 1)
    return f"{provider}.{local.replace('/', ':')}"


class StandIn:
    def __init__(self, lake_dir: Path) -> None:
        self.lake_dir = lake_dir
        self.catalog = gl.open_catalog(lake_dir / "federation.yaml")
        self.entries = {api_id(entry.id): entry for entry in self.catalog.search(limit=1000)}
        self.starred: dict[str, dict[str, Any]] = {}
        self.requests: list[str] = []

    def collection(self, cid: str) -> dict[str, Any]:
        entry = self.entries[cid]
        provider, local = entry.id.split("/", 1)
        stored = self.lake_dir / provider / local / "collection.json"
        document: dict[str, Any] = json.loads(stored.read_text()) if stored.is_file() else {}
        document.update(
            {
                "type": "Collection",
                "id": cid,
                "title": entry.title,
                "stac_version": "1.1.0",
                "description": document.get("description") or entry.description or entry.title,
                "license": document.get("license") or "other",
                "gaia:hub": entry.hub,
                "federation:member": entry.provider,
                "federation:entry": entry.id,
                "gaia:variables": list(entry.variables),
                "assets": {},
                "links": [
                    {"rel": "self", "href": f"{URL}collections/{cid}"},
                    {"rel": "items", "href": f"{URL}collections/{cid}/items"},
                ],
            }
        )
        if entry.bbox is not None and "extent" not in document:
            document["extent"] = {"spatial": {"bbox": [list(entry.bbox)]}, "temporal": {"interval": [[None, None]]}}
        return document

    def items(self, cid: str, limit: int) -> list[dict[str, Any]]:
        provider, local = self.entries[cid].id.split("/", 1)
        found = []
        # The lake's item files: <collection>/<item>/<item>.json
        paths = [p for p in sorted((self.lake_dir / provider / local).glob("*/*.json")) if p.stem == p.parent.name]
        for path in paths[:limit]:
            item = json.loads(path.read_text())
            found.append(
                {
                    "type": "Feature",
                    "stac_version": "1.1.0",
                    "id": item["id"],
                    "collection": cid,
                    "geometry": item.get("geometry"),
                    "bbox": item.get("bbox"),
                    "properties": item.get("properties", {}),
                    "assets": {},
                    "links": [],
                }
            )
        return found


class Handler(BaseHTTPRequestHandler):
    server: Server

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: Any = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Methods", "GET, PUT, DELETE, OPTIONS")
        self.send_header("Access-Control-Allow-Headers", "Accept, Content-Type")
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_OPTIONS(self) -> None:
        self._send(204)

    def do_GET(self) -> None:
        stand_in = self.server.stand_in
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        parts = [urllib.parse.unquote(p) for p in url.path.strip("/").split("/") if p]
        stand_in.requests.append(f"GET {self.path}")
        if not parts:
            self._send(
                200, {"type": "Catalog", "id": "stand-in", "stac_version": "1.1.0", "description": "", "links": []}
            )
        elif parts == ["collections"]:
            terms: list[dict[str, str]] = []
            if query.get("q"):
                results = stand_in.catalog.search(q=query["q"][0], limit=1000)
                ids = [api_id(entry.id) for entry in results]
                terms = [term.to_dict() for term in results.query_terms]
            else:
                ids = list(stand_in.entries)
            body: dict[str, Any] = {"collections": [stand_in.collection(i) for i in ids], "links": []}
            if query.get("q"):
                body["federation:query_terms"] = terms
            self._send(200, body)
        elif len(parts) == 2 and parts[0] == "collections" and parts[1] in stand_in.entries:
            self._send(200, stand_in.collection(parts[1]))
        elif len(parts) == 3 and parts[0] == "collections" and parts[2] == "items" and parts[1] in stand_in.entries:
            limit = int(query.get("limit", ["10"])[0])
            self._send(200, {"type": "FeatureCollection", "features": stand_in.items(parts[1], limit), "links": []})
        elif parts == ["starred"]:
            self._send(200, {"user": "stand-in", "starred": list(stand_in.starred.values())})
        else:
            self._send(404, {"code": "NotFoundError", "description": f"{url.path} not found"})

    def do_PUT(self) -> None:
        stand_in = self.server.stand_in
        parts = [urllib.parse.unquote(p) for p in urllib.parse.urlsplit(self.path).path.strip("/").split("/") if p]
        stand_in.requests.append(f"PUT {self.path}")
        if len(parts) == 2 and parts[0] == "starred" and parts[1] in stand_in.entries:
            entry = stand_in.entries[parts[1]]
            created = parts[1] not in stand_in.starred
            stand_in.starred.setdefault(
                parts[1],
                {
                    "collection": parts[1],
                    "entry": entry.id,
                    "title": entry.title,
                    "hub": entry.hub,
                    "starred_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                },
            )
            self._send(201 if created else 200, stand_in.starred[parts[1]])
        else:
            self._send(404, {"code": "NotFoundError", "description": f"{self.path} not found"})

    def do_DELETE(self) -> None:
        stand_in = self.server.stand_in
        parts = [urllib.parse.unquote(p) for p in urllib.parse.urlsplit(self.path).path.strip("/").split("/") if p]
        stand_in.requests.append(f"DELETE {self.path}")
        if len(parts) == 2 and parts[0] == "starred":
            stand_in.starred.pop(parts[1], None)
            self._send(204)
        else:
            self._send(404, {"code": "NotFoundError", "description": f"{self.path} not found"})


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, stand_in: StandIn) -> None:
        self.stand_in = stand_in
        super().__init__((HOST, PORT), Handler)


def start(lake_dir: Path) -> tuple[Server, StandIn]:
    stand_in = StandIn(lake_dir)
    server = Server(stand_in)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, stand_in
