"""An OPeNDAP (DAP2) server for the lake's NetCDF files: pydap's NetCDF handler behind a small directory
dispatcher, run by werkzeug's threaded WSGI server on a loopback port.

pydap 3.5.9's ``LazyVariable.__getitem__`` reshapes every read to the variable's full shape (``_reshape`` starts as
``var.shape`` and nothing on the server path changes it), so a hyperslab of a 2-D or 3-D variable (``?sst[0:1][2:5]
[0:9]``) fails with "cannot reshape array of size 40 into shape (...)". :class:`HyperslabNetCDFHandler` is pydap's own
handler with that one method replaced on its variables: reads return the shape netCDF4 gives for the key. The
report for pydap is in docs/opendap.md.

pydap's own directory server (``pydap.wsgi.app``) imports gunicorn and docopt at module level, neither of which the
lake needs; :class:`OpendapApp` does the part of it used here (file path -> handler), refuses paths leaving the root,
and keeps a log of every request (path, constraint expression, bytes sent) so tests can see what the server was asked.

Run as ``python -m gaia_lab.datalake.opendap --root DIR --host 127.0.0.1 --port 8006``.
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import numpy as np
import pystac
from netCDF4 import Dataset as NetCDFFile
from pydap.handlers.netcdf_handler import LazyVariable, NetCDFHandler
from pydap.lib import walk
from pydap.model import BaseType
from werkzeug.serving import BaseWSGIServer, make_server

from gaia_lab.stac_item import OPENDAP_ROLE, OPENDAP_TYPE, asset_format

#: Suffixes of the DAP2 responses pydap's handlers answer (``.dods`` carries data; the others metadata).
# Left out: DAP4 (.dmr/.dap: pydap's server writes no DAP4 data response, and the DMR would show the DAS escapes),
# .ascii (pydap 3.5.9 fails on the NetCDF handler's lazy arrays) and .html (needs pydap's template server).
DAP_SUFFIXES = (".dds", ".das", ".dods", ".ver")
NETCDF_SUFFIXES = (".nc", ".nc4", ".cdf")

StartResponse = Callable[..., Any]
Environ = dict[str, Any]


class _HyperslabVariable(LazyVariable):  # type: ignore[misc]
    """pydap's lazy NetCDF variable, reading any hyperslab in the shape netCDF4 returns for the key."""

    def __getitem__(self, key: Any) -> np.ndarray:
        with NetCDFFile(self.filepath, "r") as source:
            source.set_auto_scale(False)  # the client applies scale_factor/add_offset from the DAS, as pydap does
            variable = source[self.path]
            if not variable.dimensions:
                # A scalar (a CF grid mapping): the DODS response indexes it with np.newaxis, which netCDF4 refuses.
                scalar: np.ndarray = np.asarray(variable[...]).astype(self.dtype)
                return scalar[key]  # type: ignore[no-any-return]
            return np.asarray(variable[key]).astype(self.dtype)


def _das_value(value: Any) -> Any:
    """An attribute value pydap's DAS writer renders as DAP2 says: it quotes strings without escaping ``"`` and
    ``\\`` (a CRS's WKT then breaks netCDF-C's DAS parser, and every attribute of the file is lost), and renders a
    numeric array as one quoted string; escaped here, arrays handed over as lists of numbers."""
    if isinstance(value, dict):
        return {key: _das_value(item) for key, item in value.items()}
    if isinstance(value, str):
        return value.replace("\\", "\\\\").replace('"', '\\"')
    if isinstance(value, np.ndarray) and value.dtype.kind in "iuf":
        return value.item() if value.size == 1 else value.tolist()
    return value


class HyperslabNetCDFHandler(NetCDFHandler):  # type: ignore[misc]
    """pydap's NetCDF handler whose variables read hyperslabs and whose DAS netCDF-C parses (see the docstrings)."""

    def __init__(self, filepath: str) -> None:
        super().__init__(filepath)
        # pydap also files the dimension sizes among the global attributes: clients would show them as attributes
        # ("dimensions.time = 54"); the DDS carries them already.
        self.dataset.attributes.pop("dimensions", None)
        self.dataset.attributes = _das_value(self.dataset.attributes)
        for variable in walk(self.dataset):
            variable.attributes = _das_value(variable.attributes)
        for variable in walk(self.dataset, BaseType):
            if type(variable.data) is LazyVariable:
                variable.data.__class__ = _HyperslabVariable


@dataclass(frozen=True)
class Request:
    """One request the server answered: the path, the constraint expression (query string, decoded), the HTTP status
    and the bytes of the response body."""

    path: str
    constraint: str
    status: int
    nbytes: int


class OpendapApp:
    """WSGI app: ``/<relative path of a NetCDF file under root><DAP suffix>[?constraint]`` -> pydap's response."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._answered = threading.Condition(self._lock)
        self._in_flight = 0
        self._handlers: dict[Path, tuple[float, HyperslabNetCDFHandler]] = {}

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        path = unquote(str(environ.get("PATH_INFO", "")))
        constraint = unquote(str(environ.get("QUERY_STRING", "")))
        if path == "/_health":
            return self._answer(path, constraint, start_response, "200 OK", b'{"status": "ok"}', "application/json")
        target = self._resolve(path)
        if target is None:
            return self._answer(path, constraint, start_response, "404 Not Found", b"no such dataset", "text/plain")
        try:
            handler = self._handler(target)
        except Exception:
            # An unreadable file (truncated, not NetCDF): say so without the server's paths or the traceback.
            return self._answer(
                path, constraint, start_response, "500 Internal Server Error", b"cannot read this dataset", "text/plain"
            )
        status: list[int] = [0]

        def recording_start(line: str, headers: list[tuple[str, str]], *exc: Any) -> Any:
            status[0] = int(line.split(" ", 1)[0])
            return start_response(line, headers, *exc)

        with self._lock:
            self._in_flight += 1
        try:
            body = handler(environ, recording_start)
        except BaseException:
            self._done(Request(path, constraint, 500, 0))
            raise
        return self._counted(body, path, constraint, status)

    def _counted(self, body: Iterable[bytes], path: str, constraint: str, status: list[int]) -> Iterator[bytes]:
        nbytes = 0
        try:
            for block in body:
                nbytes += len(block)
                yield block
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
            self._done(Request(path, constraint, status[0], nbytes))

    def _done(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)
            self._in_flight -= 1
            self._answered.notify_all()

    def answered(self, timeout: float = 10.0) -> list[Request]:
        """The requests answered so far, once none is being answered: a client has its last byte a moment before
        the server has logged the request."""
        with self._answered:
            self._answered.wait_for(lambda: self._in_flight == 0, timeout=timeout)
            return list(self.requests)

    def _answer(
        self, path: str, constraint: str, start_response: StartResponse, line: str, body: bytes, content_type: str
    ) -> list[bytes]:
        start_response(line, [("Content-Type", content_type), ("Content-Length", str(len(body)))])
        with self._lock:
            self.requests.append(Request(path, constraint, int(line.split(" ", 1)[0]), len(body)))
        return [body]

    def _resolve(self, path: str) -> Path | None:
        """The NetCDF file a DAP URL path names, or None: no DAP suffix, a segment "..", "." or empty, a NUL byte,
        a path leaving the root (links included), or no such file."""
        base, dot, suffix = path.rpartition(".")
        if not dot or f".{suffix}" not in DAP_SUFFIXES or not base.startswith("/"):
            return None
        segments = base[1:].split("/")
        if any(s in ("", ".", "..") or "\x00" in s or "\\" in s for s in segments):
            return None
        try:
            target = self.root.joinpath(*segments).resolve()
        except (OSError, RuntimeError, ValueError):
            return None
        if not target.is_relative_to(self.root) or target.suffix.lower() not in NETCDF_SUFFIXES:
            return None
        return target if target.is_file() else None

    def _handler(self, target: Path) -> HyperslabNetCDFHandler:
        # A handler reads the file's header once; a file replaced since (new mtime) gets a new one.
        mtime = target.stat().st_mtime
        with self._lock:
            cached = self._handlers.get(target)
            if cached is None or cached[0] != mtime:
                cached = (mtime, HyperslabNetCDFHandler(str(target)))
                self._handlers[target] = cached
            return cached[1]


class OpendapServer:
    """The OPeNDAP server of a directory of NetCDF files, on ``host``; port 0 picks a free one. ``url`` is the base
    URL: the dataset ``<root>/a/b.nc`` is ``<url>/a/b.nc``. Use as a context manager, or ``start()`` / ``stop()``."""

    def __init__(self, root: str | Path, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.app = OpendapApp(Path(root))
        self._server: BaseWSGIServer = make_server(host, port, self.app, threaded=True)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self._server.host}:{self._server.port}"

    @property
    def requests(self) -> list[Request]:
        """Every request answered so far (see :meth:`OpendapApp.answered`)."""
        return self.app.answered()

    def start(self) -> OpendapServer:
        self._thread = threading.Thread(target=self._server.serve_forever, name="opendap", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting requests and close the listening socket (a client then gets "connection refused")."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=10)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> OpendapServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def publish_stac(lake: Path, opendap_url: str, target: Path) -> list[dict[str, Any]]:
    """The lake's NetCDF files as an OPeNDAP hub publishes them: for each hub with NetCDF assets, a static STAC
    catalog under ``target/<hub>/`` whose collections (the lake's, metadata unchanged) hold one asset, the OPeNDAP
    endpoint of the file on the server at ``opendap_url`` (which serves ``lake``). Returns the federation providers
    (``<hub>-opendap``) for them."""
    lake = lake.resolve()
    base = opendap_url.rstrip("/")
    providers: list[dict[str, Any]] = []
    for hub_catalog in sorted(lake.glob("*/catalog.json")):
        hub = hub_catalog.parent.name
        published = pystac.Catalog(
            f"{hub}-opendap", f"The {hub} hub's NetCDF files served over OPeNDAP (DAP2).", title=f"{hub} OPeNDAP"
        )
        source = pystac.Catalog.from_file(str(hub_catalog))
        for collection in source.get_collections():
            netcdf = [a for a in collection.assets.values() if asset_format(a.to_dict()) == "netcdf"]
            if not netcdf:
                continue
            path = Path(netcdf[0].get_absolute_href() or "").resolve()
            if not path.is_relative_to(lake):
                continue  # only files under the server's root are served
            copy = collection.clone()
            copy.clear_links()
            copy.assets = {}
            copy.add_asset(
                "opendap",
                pystac.Asset(
                    f"{base}/{quote(path.relative_to(lake).as_posix())}",
                    title=f"{netcdf[0].title or collection.id} (OPeNDAP)",
                    media_type=OPENDAP_TYPE,
                    roles=["data", OPENDAP_ROLE],
                ),
            )
            published.add_child(copy)
        if not list(published.get_children()):
            continue
        published.extra_fields["gaia:hub"] = source.extra_fields.get("gaia:hub")
        published.normalize_hrefs(str(target / hub))
        published.save(pystac.CatalogType.SELF_CONTAINED)
        providers.append(
            {
                "name": f"{hub}-opendap",
                "title": f"{source.title or hub} (OPeNDAP)",
                "hub": source.extra_fields.get("gaia:hub"),
                "type": "stac",
                "url": str(target / hub / "catalog.json"),
            }
        )
    return providers


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve a directory of NetCDF files over OPeNDAP (DAP2).")
    parser.add_argument("--root", required=True, type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8006)
    args = parser.parse_args(argv)
    server = OpendapServer(args.root, host=args.host, port=args.port)
    try:
        server._server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server._server.server_close()


if __name__ == "__main__":
    main()
