"""pycsw 2.6 (the OSGeo reference CSW server) publishing a directory of ISO 19139 records, on SQLite.

pycsw pins its own dependencies, so it runs from its own virtualenv (``scripts/install-catalogue-servers.sh``
makes ``.venv-pycsw``). This file is what that virtualenv executes; it imports only the standard library at module
level, so the main environment can import it too (:func:`command` builds the command lines)::

    # one-off: config + database from a directory of XML records (re-run to reload)
    .venv-pycsw/bin/python -P gaia_lab/datalake/pycsw.py build --records DIR --workdir WORK --url http://HOST:PORT/csw
    # serve it (CSW 2.0.2 and 3.0 on the same URL)
    .venv-pycsw/bin/python -P gaia_lab/datalake/pycsw.py serve --workdir WORK --host 127.0.0.1 --port PORT

``build`` writes ``WORK/pycsw.cfg`` and ``WORK/records.db`` and prints how many records it loaded. The config's
``url`` must be the URL clients use: pycsw writes it into its capabilities, and OWSLib posts GetRecords there.
Gzip stays off: pycsw 2.6.2 sends a wrong Content-Length for gzipped responses.
"""

from __future__ import annotations

import argparse
import configparser
import os
import sys
from pathlib import Path
from typing import Any

CONFIG_NAME = "pycsw.cfg"
DATABASE_NAME = "records.db"
TABLE = "records"
SCRIPT = Path(__file__).resolve()


def command(python: str | os.PathLike[str], action: str, **options: object) -> list[str]:
    """The command line running ``action`` (``build`` or ``serve``) with the pycsw virtualenv's ``python``."""
    line = [os.fspath(python), "-P", str(SCRIPT), action]
    for key, value in options.items():
        line += [f"--{key.replace('_', '-')}", str(value)]
    return line


def _pycsw_home() -> str:
    import pycsw

    return str(Path(pycsw.__file__).resolve().parent)


def write_config(
    workdir: Path,
    *,
    url: str,
    title: str = "GAIA Lab catalogue",
    abstract: str = "ISO 19139 records of the GAIA Lab data hubs",
    max_records: int = 50,
    iso: bool = True,
) -> Path:
    """pycsw's configuration for the database in ``workdir``; ``iso=False`` serves Dublin Core only (no APISO)."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = configparser.ConfigParser(interpolation=None)
    config["server"] = {
        # pycsw finds its XML schemas (request validation) under home/core/schemas: its package directory.
        "home": _pycsw_home(),
        "url": url,
        "mimetype": "application/xml; charset=UTF-8",
        "encoding": "UTF-8",
        "language": "en-US",
        "maxrecords": str(max_records),
        "loglevel": "WARNING",
        "logfile": str(workdir / "pycsw.log"),
        "pretty_print": "false",
    }
    if iso:
        config["server"]["profiles"] = "apiso"
    config["manager"] = {"transactions": "false", "allowed_ips": "127.0.0.1"}
    config["metadata:main"] = {
        "identification_title": title,
        "identification_abstract": abstract,
        "identification_keywords": "catalogue,discovery,metadata",
        "identification_keywords_type": "theme",
        "identification_fees": "None",
        "identification_accessconstraints": "None",
        "provider_name": "GAIA Lab",
        "provider_url": url,
        "contact_name": "GAIA Lab",
        "contact_position": "Catalogue",
        "contact_address": "-",
        "contact_city": "-",
        "contact_stateorprovince": "-",
        "contact_postalcode": "-",
        "contact_country": "France",
        "contact_phone": "-",
        "contact_fax": "-",
        "contact_email": "gaia-lab@localhost",
        "contact_url": url,
        "contact_hours": "-",
        "contact_instructions": "-",
        "contact_role": "pointOfContact",
    }
    config["repository"] = {"database": f"sqlite:///{workdir / DATABASE_NAME}", "table": TABLE}
    config["metadata:inspire"] = {"enabled": "false"}
    path = workdir / CONFIG_NAME
    with path.open("w", encoding="utf-8") as stream:
        config.write(stream)
    return path


def build(records: Path, workdir: Path, url: str, *, iso: bool = True) -> int:
    """Write the config and a fresh SQLite database holding every ``*.xml`` record under ``records``."""
    from pycsw.core import admin
    from pycsw.core import config as pycsw_config

    write_config(workdir, url=url, iso=iso)
    database_file = workdir / DATABASE_NAME
    database_file.unlink(missing_ok=True)
    database = f"sqlite:///{database_file}"
    admin.setup_db(database, TABLE, str(workdir))
    context = pycsw_config.StaticContext()
    loaded = admin.load_records(context, database, TABLE, str(records), recursive=True)
    return len(loaded)


def guarded(endpoints: dict[str, Path]) -> Any:
    """pycsw's WSGI application serving one workdir per first path segment (``""``: every path).

    pycsw 2.6 reads its config file from any query parameter whose name contains "config", before anything else:
    a client could make it load any file the server's account can read. Such requests are refused here, and each
    request is given its endpoint's config through the WSGI environment (the process environment would win)."""
    os.environ.pop("PYCSW_CONFIG", None)
    from pycsw.wsgi import application

    configs = {name.strip("/"): str(workdir / CONFIG_NAME) for name, workdir in endpoints.items()}

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        if "config" in environ.get("QUERY_STRING", "").lower():
            start_response("400 Bad Request", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"the config parameter is not accepted\n"]
        segment = environ.get("PATH_INFO", "/").lstrip("/").split("/", 1)[0]
        config = configs.get(segment, configs.get(""))
        if config is None:
            start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
            return [f"no catalogue here; catalogues: {sorted(configs)}\n".encode()]
        environ["PYCSW_CONFIG"] = config
        return application(environ, start_response)

    return app


def serve(endpoints: dict[str, Path], host: str, port: int) -> None:
    """pycsw on a threaded HTTP server (stdlib) until killed; ``endpoints`` maps a first path segment to a built
    workdir (``{"": workdir}`` serves one catalogue on every path)."""
    import socketserver
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

    class Threaded(socketserver.ThreadingMixIn, WSGIServer):
        daemon_threads = True

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")

    with make_server(host, port, guarded(endpoints), server_class=Threaded, handler_class=Quiet) as server:
        server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="action", required=True)
    build_parser = actions.add_parser("build", help="config + SQLite database from a directory of XML records")
    build_parser.add_argument("--records", type=Path, required=True)
    build_parser.add_argument("--workdir", type=Path, required=True)
    build_parser.add_argument("--url", required=True, help="the URL clients will use (written into capabilities)")
    build_parser.add_argument("--dublin-core-only", action="store_true", help="no ISO (APISO) profile")
    serve_parser = actions.add_parser("serve", help="serve a built workdir")
    serve_parser.add_argument("--workdir", type=Path, help="one catalogue, on every path")
    serve_parser.add_argument(
        "--endpoint", action="append", default=[], metavar="NAME=WORKDIR", help="a catalogue at /NAME/ (repeatable)"
    )
    serve_parser.add_argument("--host", default="127.0.0.1")
    serve_parser.add_argument("--port", type=int, required=True)
    arguments = parser.parse_args(argv)
    if arguments.action == "build":
        count = build(arguments.records, arguments.workdir, arguments.url, iso=not arguments.dublin_core_only)
        print(f"loaded {count} records into {arguments.workdir / DATABASE_NAME}")
        return 0 if count else 1
    endpoints = {name: Path(path) for name, _, path in (e.partition("=") for e in arguments.endpoint)}
    if arguments.workdir is not None:
        endpoints[""] = arguments.workdir
    if not endpoints:
        parser.error("serve needs --workdir or --endpoint")
    serve(endpoints, arguments.host, arguments.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
