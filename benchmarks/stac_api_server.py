"""A small STAC API (core + item-search + collections, token paging) over a JSON file of items, with an added
per-request latency, so that search benchmarks measure a network-bound federation on loopback.

    python -m benchmarks.stac_api_server ITEMS.json --port 0 --latency 0.1
prints ``listening on http://127.0.0.1:PORT`` once ready.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
from typing import Any

from aiohttp import web

CONFORMANCE = [
    "https://api.stacspec.org/v1.0.0/core",
    "https://api.stacspec.org/v1.0.0/item-search",
    "https://api.stacspec.org/v1.0.0/collections",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
]


def make_app(
    collection: dict[str, Any], items: list[dict[str, Any]], latency: float, *, cache: bool = False
) -> web.Application:
    """``cache``: each distinct search answer is encoded once and sent again as bytes (a server whose per-request
    CPU is close to nothing, to tell the clients' time from the servers')."""
    answers: dict[str, bytes] = {}

    async def delay() -> None:
        if latency:
            await asyncio.sleep(latency)

    def base(request: web.Request) -> str:
        return f"http://{request.host}"

    async def landing(request: web.Request) -> web.Response:
        await delay()
        root = base(request)
        return web.json_response(
            {
                "type": "Catalog",
                "id": "bench",
                "stac_version": "1.1.0",
                "description": "benchmark API",
                "conformsTo": CONFORMANCE,
                "links": [
                    {"rel": "self", "href": f"{root}/"},
                    {"rel": "root", "href": f"{root}/"},
                    {"rel": "conformance", "href": f"{root}/conformance"},
                    {"rel": "data", "href": f"{root}/collections"},
                    {"rel": "search", "href": f"{root}/search", "method": "GET", "type": "application/geo+json"},
                    {"rel": "search", "href": f"{root}/search", "method": "POST", "type": "application/geo+json"},
                ],
            }
        )

    async def conformance(request: web.Request) -> web.Response:
        await delay()
        return web.json_response({"conformsTo": CONFORMANCE})

    async def collections(request: web.Request) -> web.Response:
        await delay()
        return web.json_response({"collections": [collection], "links": []})

    async def search(request: web.Request) -> web.Response:
        await delay()
        params: dict[str, Any] = dict(request.query)
        if request.method == "POST":
            params.update(await request.json())
        key = json.dumps(params, sort_keys=True)
        if cache and key in answers:
            return web.Response(body=answers[key], content_type="application/json", charset="utf-8")
        limit = int(params.get("limit") or 10)
        start = int(params.get("token") or 0)
        page = items[start : start + limit]
        links = []
        if start + limit < len(items):
            body = {k: v for k, v in params.items() if k != "token"}
            body["token"] = start + limit
            links.append({"rel": "next", "href": f"{base(request)}/search", "method": "POST", "body": body})
        answer = {
            "type": "FeatureCollection",
            "features": page,
            "links": links,
            "numberMatched": len(items),
            "numberReturned": len(page),
        }
        if cache:
            answers[key] = json.dumps(answer).encode()
            return web.Response(body=answers[key], content_type="application/json", charset="utf-8")
        return web.json_response(answer)

    app = web.Application()
    app.router.add_get("/", landing)
    app.router.add_get("/conformance", conformance)
    app.router.add_get("/collections", collections)
    app.router.add_route("*", "/search", search)
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("items")
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--cache", action="store_true", help="encode each distinct search answer once")
    args = parser.parse_args()
    with open(args.items, encoding="utf-8") as stream:
        document = json.load(stream)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    print(f"listening on http://127.0.0.1:{port}", flush=True)
    app = make_app(document["collection"], document["items"], args.latency, cache=args.cache)
    web.run_app(app, sock=sock, print=None)


if __name__ == "__main__":
    main()
