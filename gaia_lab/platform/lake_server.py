"""Static HTTP server for the data lake, with Range and HEAD, so COG and Zarr are read remotely through fsspec.

It serves files under its root and nothing else: a request path with "..", ".", empty segments or NUL bytes (raw or
percent-encoded) is refused before the file system is touched, and a link inside the lake is followed only when its
target is inside the lake too. Read-only: GET and HEAD, nothing else.

Run as ``python -m gaia_lab.platform.lake_server --root DIR --host 127.0.0.1 --port 8005``.
"""

from __future__ import annotations

import argparse
import mimetypes
from pathlib import Path

from aiohttp import web

_TYPES = {
    ".json": "application/json",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
    ".tif": "image/tiff; application=geotiff; profile=cloud-optimized",
    ".tiff": "image/tiff; application=geotiff",
}

ROOT = web.AppKey("root", Path)


def _resolve(root: Path, tail: str) -> Path | None:
    """The file under root for a URL path, or None: missing, a directory, a path with "..", "." or empty segments,
    a NUL byte, or a path that leaves the root (through a link as well: the resolved path must stay inside)."""
    segments = tail.split("/")
    if tail and any(segment in ("", ".", "..") or "\x00" in segment or "\\" in segment for segment in segments):
        return None
    try:
        path = root.joinpath(*segments).resolve()
    except (OSError, RuntimeError, ValueError):
        return None
    if not path.is_relative_to(root) or path == root:
        return None
    return path if path.is_file() else None


async def _serve(request: web.Request) -> web.StreamResponse:
    root = request.app[ROOT]
    path = _resolve(root, request.match_info["tail"])
    if path is None:
        # Never echo the path: it is the client's, and a 404 says all there is to say.
        raise web.HTTPNotFound(text="no such file in the lake")
    # FileResponse answers Range (206/416), If-Modified-Since and HEAD from the file itself.
    response = web.FileResponse(path, chunk_size=256 * 1024)
    content_type = _TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0]
    response.content_type = (content_type or "application/octet-stream").split(";")[0]
    if content_type and ";" in content_type:
        response.headers["Content-Type"] = content_type
    response.headers["Accept-Ranges"] = "bytes"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


async def _health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def make_app(root: Path) -> web.Application:
    app = web.Application()
    app[ROOT] = root.resolve()
    app.router.add_get("/_health", _health)
    app.router.add_get("/{tail:.*}", _serve)  # allow_head=True by default
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve the GAIA Lab data lake over HTTP (Range, HEAD).")
    parser.add_argument("--root", required=True, type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8005)
    args = parser.parse_args(argv)
    web.run_app(make_app(args.root), host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
