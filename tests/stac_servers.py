"""Real STAC API servers for the catalogue tests, each in its own process group on 127.0.0.1.

- ``start_pgstac``: stac-fastapi-pgstac on a throwaway PostgreSQL + PostGIS cluster (Debian packages) initialised in a
  temporary directory, schema migrated and loaded with pypgstac.
- ``start_geoparquet``: stac-fastapi-geoparquet on stac-geoparquet files (one per collection), queried through
  rustac's embedded DuckDB.

The servers run from their own virtualenvs, installed by ``scripts/install-stac-servers.sh`` so their pins never touch
the main one. This file is also what those virtualenvs execute (``python -P tests/stac_servers.py serve-geoparquet``,
``validate-api``): it imports only the standard library at module level.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

REPO_ROOT = Path(__file__).resolve().parents[1]
# Where the servers' virtualenvs live; CI may install them elsewhere.
VENVS_ROOT = Path(os.environ.get("GAIA_LAB_STAC_SERVERS_ROOT", REPO_ROOT))
PGSTAC_VENV = VENVS_ROOT / ".venv-pgstac"
GEOPARQUET_VENV = VENVS_ROOT / ".venv-geoparquet"
VALIDATOR_VENV = VENVS_ROOT / ".venv-stac-validator"
INSTALL_HINT = "install them with scripts/install-stac-servers.sh"
HOST = "127.0.0.1"
GEOPARQUET_MEDIA_TYPE = "application/vnd.apache.parquet"
# Links that describe the static catalogue's own tree: a STAC API builds its own, so serving them would point clients
# back at files next to a catalogue they did not ask for.
TREE_RELS = frozenset({"self", "root", "parent", "child", "item", "items", "collection"})
# In a server's workdir: "<process group> <stop signal>" per line, for its watchdog.
WATCHED_GROUPS = "process-groups"


class ServerStartError(RuntimeError):
    """A server did not come up; the message carries the end of its log."""


@dataclass
class StacRecords:
    """Collections and items as STAC API servers load them: plain dicts, absolute asset hrefs, no tree links."""

    collections: list[dict[str, Any]] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)
    # provider name -> ids of its collections
    providers: dict[str, list[str]] = field(default_factory=dict)

    def items_of(self, collection_id: str) -> list[dict[str, Any]]:
        return [item for item in self.items if item["collection"] == collection_id]

    def only(self, providers: Iterable[str]) -> StacRecords:
        """The collections and items of some providers, e.g. to serve each hub from a different server."""
        wanted = {p: self.providers[p] for p in providers}
        ids = {cid for cids in wanted.values() for cid in cids}
        return StacRecords(
            collections=[c for c in self.collections if c["id"] in ids],
            items=[i for i in self.items if i["collection"] in ids],
            providers=wanted,
        )


def _absolute(href: str | None) -> str | None:
    """file:// URI for a local path, so an item served over HTTP still names where its data lies."""
    if href is None or "://" in href:
        return href
    return Path(href).resolve().as_uri()


def _served_dict(obj: Any) -> dict[str, Any]:
    """A pystac Collection or Item as a dict with absolute hrefs and without the static tree's own links."""
    for asset in obj.assets.values():
        asset.href = _absolute(asset.get_absolute_href()) or asset.href
    data: dict[str, Any] = obj.to_dict(include_self_link=False, transform_hrefs=False)
    data["links"] = [
        {**link.to_dict(transform_href=False), "href": _absolute(link.get_absolute_href()) or link.href}
        for link in obj.links
        if link.rel not in TREE_RELS
    ]
    return data


def read_static_catalogs(catalogs: dict[str, Path]) -> StacRecords:
    """Read static STAC catalogs (provider name -> catalog.json) into what ``start_pgstac``/``start_geoparquet`` load:
    every collection, and the items directly under each."""
    import pystac

    records = StacRecords()
    for provider, path in catalogs.items():
        catalog = pystac.Catalog.from_file(str(path))
        ids = records.providers.setdefault(provider, [])
        for collection in catalog.get_all_collections():
            ids.append(collection.id)
            for item in collection.get_items():
                data = _served_dict(item)
                data["collection"] = collection.id
                records.items.append(data)
            records.collections.append(_served_dict(collection))
    return records


def read_lake(lake_dir: Path) -> StacRecords:
    """Every provider of the demo lake: ``<lake>/<provider>/catalog.json``."""
    catalogs = {path.parent.name: path for path in sorted(Path(lake_dir).glob("*/catalog.json"))}
    if not catalogs:
        raise ValueError(f"no <provider>/catalog.json under {lake_dir}")
    return read_static_catalogs(catalogs)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as error:
        return f"(no log: {error})"
    return "\n".join(text.splitlines()[-lines:])


def _kill_group(proc: subprocess.Popen[bytes], first_signal: int, timeout: float) -> None:
    """Signal the process group led by ``proc``, wait, then SIGKILL whatever is left of the group."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, first_signal)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout)
    # Children that outlived their leader (postgres backends, uvicorn workers) are still in the group.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


@dataclass(eq=False)  # compared and hashed by identity: kept in a set until stopped
class RunningServer:
    """A STAC API server started by this module; ``stop()`` ends all its processes and removes its files."""

    name: str
    url: str
    workdir: Path
    log_path: Path
    versions: dict[str, str] = field(default_factory=dict)
    collection_ids: list[str] = field(default_factory=list)
    item_count: int = 0
    startup_seconds: float = 0.0
    # (process, signal that shuts it down cleanly), in start order.
    processes: list[tuple[subprocess.Popen[bytes], int]] = field(default_factory=list, repr=False)
    keep_files: bool = False

    def stop(self, timeout: float = 10.0) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.workdir / WATCHED_GROUPS).unlink()  # tells the watchdog this is a normal stop
        for proc, stop_signal in reversed(self.processes):
            _kill_group(proc, stop_signal, timeout)
        self.processes.clear()
        _RUNNING.discard(self)
        if not self.keep_files:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def log(self, lines: int = 80) -> str:
        return tail(self.log_path, lines)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


_RUNNING: set[RunningServer] = set()


@atexit.register
def _stop_all() -> None:
    # Fixture teardown stops servers; this covers an interpreter that exits without running it (KeyboardInterrupt).
    for server in list(_RUNNING):
        server.stop(timeout=5)


class _Launcher:
    """Runs the commands of one server, all logging to one file, and tears down on failure."""

    def __init__(self, name: str, keep_files: bool) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix=f"gaia-{name}-"))
        # Readable by the unprivileged user PostgreSQL runs as.
        self.workdir.chmod(0o755)
        self.log_path = self.workdir / "server.log"
        self.log: IO[bytes] = self.log_path.open("ab")
        self.server = RunningServer(name=name, url="", workdir=self.workdir, log_path=self.log_path)
        self.server.keep_files = keep_files
        self.started = time.monotonic()
        _RUNNING.add(self.server)
        self.pgids_path = self.workdir / WATCHED_GROUPS
        self.pgids_path.touch()
        # Fixture teardown stops the server; the watchdog stops it when the test process dies without teardown
        # (SIGTERM from a timeout, SIGKILL), so that no PostgreSQL or uvicorn outlives the tests.
        self.spawn(
            [
                sys.executable,
                "-P",
                Path(__file__).resolve(),
                "watchdog",
                "--parent",
                str(os.getpid()),
                "--workdir",
                self.workdir,
            ]
        )

    def note(self, text: str) -> None:
        self.log.write(f"\n[{time.strftime('%H:%M:%S')}] {text}\n".encode())
        self.log.flush()

    def fail(self, message: str) -> ServerStartError:
        self.log.close()
        # Stop first so the log is complete, then read it before stop() removed the files: keep_files for the caller.
        keep = self.server.keep_files
        self.server.keep_files = True
        self.server.stop()
        log = self.server.log()
        if not keep:
            shutil.rmtree(self.workdir, ignore_errors=True)
        return ServerStartError(f"{self.server.name}: {message}\n--- log {self.log_path} ---\n{log}")

    def abort(self) -> None:
        """Stop whatever started, after an unexpected error (or Ctrl-C) half-way through start-up."""
        self.log.close()
        self.server.stop()

    def run(
        self, cmd: Sequence[str | Path], *, timeout: float, user: str | None = None, env: dict[str, str] | None = None
    ) -> None:
        self.note("$ " + " ".join(map(str, cmd)))
        try:
            subprocess.run(
                [str(c) for c in cmd],
                stdin=subprocess.DEVNULL,
                stdout=self.log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                env=env,
                user=user,
                check=True,
                timeout=timeout,
                start_new_session=True,
            )
        except subprocess.CalledProcessError as error:
            raise self.fail(f"{Path(str(cmd[0])).name} exited with {error.returncode}") from None
        except subprocess.TimeoutExpired:
            raise self.fail(f"{Path(str(cmd[0])).name} took more than {timeout:.0f} s") from None
        except OSError as error:
            raise self.fail(f"cannot run {cmd[0]}: {error}") from None

    def spawn(
        self,
        cmd: Sequence[str | Path],
        *,
        stop_signal: int = signal.SIGTERM,
        user: str | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        self.note("$ " + " ".join(map(str, cmd)))
        try:
            # Own session, hence own process group: stop() kills the whole group, and a Ctrl-C aimed at pytest
            # does not reach the server before teardown does.
            proc = subprocess.Popen(
                [str(c) for c in cmd],
                stdin=subprocess.DEVNULL,
                stdout=self.log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                env=env,
                user=user,
                start_new_session=True,
            )
        except OSError as error:
            raise self.fail(f"cannot start {cmd[0]}: {error}") from None
        self.server.processes.append((proc, stop_signal))
        with self.pgids_path.open("a") as groups:
            groups.write(f"{proc.pid} {int(stop_signal)}\n")
        return proc

    def wait_until(self, ready: Callable[[], bool], what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            for proc, _ in self.server.processes:
                if proc.poll() is not None:
                    raise self.fail(f"{_program(proc)} exited with {proc.returncode} before {what}")
            if ready():
                return
            if time.monotonic() > deadline:
                raise self.fail(f"{what}: not ready after {timeout:.0f} s")
            time.sleep(0.1)

    def done(self, url: str, collections: Sequence[dict[str, Any]], items: Sequence[dict[str, Any]]) -> RunningServer:
        self.server.url = url
        self.server.collection_ids = [c["id"] for c in collections]
        self.server.item_count = len(items)
        self.server.startup_seconds = round(time.monotonic() - self.started, 2)
        self.note(f"ready at {url} in {self.server.startup_seconds} s")
        # The processes hold their own descriptors of the log file.
        self.log.close()
        return self.server


def _program(proc: subprocess.Popen[bytes]) -> str:
    args = proc.args
    first = args[0] if isinstance(args, list | tuple) else args
    return Path(str(first)).name


def _http_ok(url: str) -> Callable[[], bool]:
    def ready() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return bool(response.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    return ready


def _require_venv(venv: Path, executable: str = "python") -> Path:
    path = venv / "bin" / executable
    if not path.exists():
        raise ServerStartError(f"{path} is missing: {INSTALL_HINT}")
    return path


def _child_env(**extra: str) -> dict[str, str]:
    # The servers' venvs must not see the test process's virtualenv or import path.
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"}}
    env.update(extra)
    return env


def _write_ndjson(path: Path, records: Iterable[dict[str, Any]]) -> None:
    with path.open("w") as out:
        for record in records:
            out.write(json.dumps(record) + "\n")


def _check_ids(collections: Sequence[dict[str, Any]], items: Sequence[dict[str, Any]]) -> None:
    ids = [c["id"] for c in collections]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"collection ids served twice: {duplicates}")
    unknown = sorted({str(item.get("collection")) for item in items} - set(ids))
    if unknown:
        raise ValueError(f"items reference collections that are not served: {unknown}")


def postgres_bindir() -> Path:
    """The bin directory of the newest Debian PostgreSQL installed (/usr/lib/postgresql/<major>/bin)."""
    override = os.environ.get("GAIA_LAB_PG_BINDIR")
    if override:
        return Path(override)
    candidates = sorted(
        (p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "postgres").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if not candidates:
        raise ServerStartError(f"no PostgreSQL under /usr/lib/postgresql: {INSTALL_HINT}")
    return candidates[-1]


def _postgres_user() -> str | None:
    """PostgreSQL refuses to run as root: as root, run it as the ``postgres`` system user (else ``nobody``)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise ServerStartError("running as root and neither a 'postgres' nor a 'nobody' user exists")


def start_pgstac(
    collections: Sequence[dict[str, Any]],
    items: Sequence[dict[str, Any]],
    *,
    title: str = "GAIA Lab test catalogue (pgstac)",
    timeout: float = 90.0,
    keep_files: bool = False,
) -> RunningServer:
    """PostgreSQL + PostGIS + pgstac in a temporary directory, loaded with ``collections``/``items``, behind
    stac-fastapi-pgstac on a free port of 127.0.0.1."""
    _check_ids(collections, items)
    python = _require_venv(PGSTAC_VENV)
    pypgstac = _require_venv(PGSTAC_VENV, "pypgstac")
    bindir = postgres_bindir()
    user = _postgres_user()
    launcher = _Launcher("pgstac", keep_files)
    server = launcher.server
    try:
        # "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
        version = subprocess.run([bindir / "postgres", "--version"], capture_output=True, text=True, check=False).stdout
        server.versions["postgresql"] = version.split()[2] if len(version.split()) > 2 else version.strip()

        pgdir = launcher.workdir / "pg"
        pgdir.mkdir(mode=0o700)
        if user is not None:
            account = pwd.getpwnam(user)
            os.chown(pgdir, account.pw_uid, account.pw_gid)
        data = pgdir / "data"
        # -N: no fsync, this cluster lives for one test session.
        launcher.run(
            [bindir / "initdb", "-N", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale"],
            timeout=timeout,
            user=user,
        )
        pg_port = free_port()
        settings = {
            "listen_addresses": HOST,
            "port": pg_port,
            # Its socket in our directory: the default /var/run/postgresql may not exist or be writable.
            "unix_socket_directories": pgdir,
            # Durability is worthless for a throwaway cluster; without it loading is several times faster.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        launcher.spawn(
            [bindir / "postgres", "-D", data, *(arg for k, v in settings.items() for arg in ("-c", f"{k}={v}"))],
            # SIGINT is PostgreSQL's "fast" shutdown: it does not wait for clients to disconnect.
            stop_signal=signal.SIGINT,
            user=user,
        )
        pg_isready = [str(bindir / "pg_isready"), "-q", "-h", HOST, "-p", str(pg_port)]
        launcher.wait_until(
            lambda: subprocess.run(pg_isready, check=False, stdout=subprocess.DEVNULL).returncode == 0,
            "PostgreSQL accepting connections",
            timeout,
        )
        dsn = f"postgresql://postgres@{HOST}:{pg_port}/postgres"
        launcher.run([pypgstac, "migrate", "--dsn", dsn], timeout=timeout, env=_child_env())
        collections_file = launcher.workdir / "collections.ndjson"
        items_file = launcher.workdir / "items.ndjson"
        _write_ndjson(collections_file, collections)
        _write_ndjson(items_file, items)
        # --method insert: a duplicate id is an error in the fixture data, not something to hide.
        if collections:
            launcher.run(
                [pypgstac, "load", "collections", collections_file, "--dsn", dsn, "--method", "insert"],
                timeout=timeout,
                env=_child_env(),
            )
        if items:
            launcher.run(
                [pypgstac, "load", "items", items_file, "--dsn", dsn, "--method", "insert"],
                timeout=timeout,
                env=_child_env(),
            )
        server.versions.update(_versions(python, ["stac-fastapi-pgstac", "pypgstac", "stac-fastapi-api"]))
        api_port = free_port()
        env = _child_env(
            PGUSER="postgres",
            PGPASSWORD="unused-trust-auth",
            PGHOST=HOST,
            PGPORT=str(pg_port),
            PGDATABASE="postgres",
            STAC_FASTAPI_TITLE=title,
            STAC_FASTAPI_DESCRIPTION="stac-fastapi-pgstac serving the GAIA Lab demo lake for tests",
            STAC_FASTAPI_LANDING_ID="gaia-lab-pgstac",
        )
        app = "stac_fastapi.pgstac.app:create_app"
        launcher.spawn(
            [python, "-m", "uvicorn", app, "--factory", "--host", HOST, "--port", str(api_port), "--log-level", "info"],
            env=env,
        )
        url = f"http://{HOST}:{api_port}"
        launcher.wait_until(_http_ok(url + "/"), "stac-fastapi-pgstac answering /", timeout)
        return launcher.done(url, collections, items)
    except BaseException:
        launcher.abort()
        raise


def start_geoparquet(
    collections: Sequence[dict[str, Any]],
    items: Sequence[dict[str, Any]],
    *,
    title: str = "GAIA Lab test catalogue (geoparquet)",
    timeout: float = 90.0,
    keep_files: bool = False,
) -> RunningServer:
    """stac-fastapi-geoparquet on a free port of 127.0.0.1, serving ``collections`` with their ``items`` written as
    one stac-geoparquet file per collection. A collection without items is served without a parquet file."""
    _check_ids(collections, items)
    python = _require_venv(GEOPARQUET_VENV)
    launcher = _Launcher("geoparquet", keep_files)
    server = launcher.server
    try:
        (launcher.workdir / "collections.json").write_text(json.dumps(list(collections)))
        _write_ndjson(launcher.workdir / "items.ndjson", items)
        server.versions.update(
            _versions(python, ["stac-fastapi-geoparquet", "stac-geoparquet", "rustac", "stac-fastapi.api"])
        )
        port = free_port()
        command: list[str | Path] = [python, "-P", Path(__file__).resolve(), "serve-geoparquet"]
        command += ["--workdir", launcher.workdir, "--port", str(port), "--title", title]
        launcher.spawn(
            # -P: the script's directory (tests/) stays out of the server's import path: no helper shadows a module.
            command,
            env=_child_env(),
        )
        url = f"http://{HOST}:{port}"
        launcher.wait_until(_http_ok(url + "/"), "stac-fastapi-geoparquet answering /", timeout)
        return launcher.done(url, collections, items)
    except BaseException:
        launcher.abort()
        raise


def _versions(python: Path, packages: Sequence[str]) -> dict[str, str]:
    code = "import importlib.metadata as m, json, sys\nprint(json.dumps({p: m.version(p) for p in sys.argv[1:]}))"
    result = subprocess.run([str(python), "-c", code, *packages], capture_output=True, text=True, check=False)
    try:
        return dict(json.loads(result.stdout))
    except ValueError:
        return {}


def validate_api(
    root_url: str,
    conformance: Sequence[str],
    *,
    collection: str,
    geometry: dict[str, Any],
    tolerate_3d_bbox_failure: bool = False,
    timeout: float = 300.0,
    extra_args: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """Run stac-api-validator (its own venv) against ``root_url``, offline: see ``_offline_schemas``; with
    ``tolerate_3d_bbox_failure``, see ``_tolerate_3d_bbox_failure``; ``extra_args`` go to the validator as they are
    (``--auth-bearer-token``, ...)."""
    python = _require_venv(VALIDATOR_VENV)
    cmd = [
        str(python),
        "-P",
        str(Path(__file__).resolve()),
        "validate-api",
        "--root-url",
        root_url,
        "--collection",
        collection,
        "--geometry",
        json.dumps(geometry),
    ]
    for name in conformance:
        cmd += ["--conformance", name]
    if tolerate_3d_bbox_failure:
        cmd.append("--tolerate-3d-bbox-failure")
    cmd += list(extra_args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_child_env(), check=False)


# --- run inside the servers' virtualenvs ------------------------------------------------------------------------


def _serve_geoparquet(workdir: Path, port: int, title: str) -> None:
    import rustac
    import rustac_duckdb_extensions
    import stac_geoparquet.arrow
    import uvicorn
    from stac_fastapi.geoparquet.api import create
    from stac_fastapi.geoparquet.settings import Settings

    collections: list[dict[str, Any]] = json.loads((workdir / "collections.json").read_text())
    by_collection: dict[str, list[dict[str, Any]]] = {}
    with (workdir / "items.ndjson").open() as lines:
        for line in lines:
            item = json.loads(line)
            by_collection.setdefault(item["collection"], []).append(item)
    parquet_dir = workdir / "parquet"
    parquet_dir.mkdir(exist_ok=True)
    for collection in collections:
        collection_items = by_collection.get(collection["id"])
        if not collection_items:
            # stac-fastapi-geoparquet 0.0.7 reads ANY collection asset typed application/vnd.apache.parquet as the
            # collection's items (its api.py); a table that is the data itself (the biodiversity hub's GeoParquet)
            # is served under Parquet's older STAC media type, which GAIA Lab reads as well.
            for asset in (collection.get("assets") or {}).values():
                if asset.get("type") == GEOPARQUET_MEDIA_TYPE:
                    asset["type"] = "application/x-parquet"
            continue  # stac-geoparquet cannot write an empty table; the server skips collections without one
        path = parquet_dir / f"{collection['id']}.parquet"
        table = stac_geoparquet.arrow.parse_stac_items_to_arrow(collection_items)
        stac_geoparquet.arrow.to_parquet(table, path)
        # The server finds a collection's items through a parquet asset on the collection.
        collection.setdefault("assets", {})["stac-geoparquet"] = {
            "href": str(path),
            "type": GEOPARQUET_MEDIA_TYPE,
            "title": "Items of this collection as stac-geoparquet",
            "roles": ["metadata"],
        }
    served = workdir / "collections-served.json"
    served.write_text(json.dumps(collections))

    # DuckDB would download its spatial extension at first use; rustac-duckdb-extensions ships it instead.
    client = rustac.DuckdbClient(
        extension_directory=str(rustac_duckdb_extensions.extension_directory()),
        install_extensions=False,
        extensions=["spatial", "icu", "parquet"],
    )
    settings = Settings(
        stac_fastapi_collections_href=str(served),
        stac_fastapi_title=title,
        stac_fastapi_description="stac-fastapi-geoparquet serving the GAIA Lab demo lake for tests",
        stac_fastapi_landing_id="gaia-lab-geoparquet",
        # The file never changes while the server runs: no reload.
        stac_fastapi_collections_reload_seconds=10**9,
    )
    _fix_cross_collection_paging()
    api = create(settings=settings, duckdb_client=client)
    uvicorn.run(api.app, host=HOST, port=port, log_level="info", lifespan="on")


def _fix_cross_collection_paging() -> None:
    """Fix one comparison in stac-fastapi-geoparquet 0.0.7's search over several collections.

    Its loop fills a page collection by collection, decrementing the remaining ``limit`` but comparing it with the
    number of items gathered so far (``len(items) >= limit``): a search over several collections stops early, returns
    a short page and no next link, and the remaining items are never served (limit=5 over the lake: 3 items in all).
    Comparing the items of the current collection with what remained (``len(collection_items) >= limit``) is the
    intended test. The pinned version is checked to contain the line exactly once."""
    import inspect
    import textwrap

    import stac_fastapi.geoparquet.client as client_module

    source = textwrap.dedent(inspect.getsource(client_module.Client.search))
    buggy, fixed = "if len(items) >= limit:", "if len(collection_items) >= limit:"
    if source.count(buggy) != 1:
        raise RuntimeError("stac-fastapi-geoparquet's search changed: review _fix_cross_collection_paging")
    namespace: dict[str, Any] = {}
    code = compile(source.replace(buggy, fixed), client_module.__file__, "exec")
    exec(code, vars(client_module), namespace)
    client_module.Client.search = namespace["search"]


def _offline_schemas() -> None:
    """Make stac-validator read JSON schemas without network access.

    The core STAC 1.1.0 schemas (item, catalog, collection and their parts) and the GeoJSON schemas come from the
    copies pystac ships; any other remote schema (STAC extensions) is not available offline and is replaced by the
    empty schema, i.e. not checked. Each one skipped is reported on stderr."""
    import stac_validator.utilities as utilities
    from pystac.validation.local_validator import get_local_schema_cache

    local = get_local_schema_cache()
    fetch = utilities._schema_cache
    skipped: set[str] = set()

    def offline(path: str) -> dict[str, Any]:
        if path in local:
            return dict(local[path])
        if not path.startswith(("http://", "https://")):
            return dict(fetch(path))
        if path not in skipped:
            skipped.add(path)
            print(f"offline: schema not checked: {path}", file=sys.stderr)
        return {}

    utilities._schema_cache = offline


def _tolerate_3d_bbox_failure() -> None:
    """Report stac-api-validator's 3D-bbox searches ([100, 0, 0, 105, 1, 1]) instead of failing on them.

    pgstac turns a 6-number bbox into a PostGIS box3d, i.e. a PolyhedralSurface, which ST_Intersects rejects
    ("Unknown geometry type: 13 - PolyhedralSurface", stac-utils/stac-fastapi#292) as soon as an item's footprint
    passes the index, as the lake's global items do: the server answers 500 or drops the connection, and the
    validator stops at the first dropped connection without checking the rest. Each tolerated failure is printed
    on stderr as "tolerated 3d bbox: ..." so the tests can see it."""
    import requests
    import stac_api_validator.validations as validations

    original = validations.retrieve

    def bbox_of(kwargs: dict[str, Any]) -> Any:
        for key in ("params", "body"):
            container = kwargs.get(key)
            if isinstance(container, dict) and "bbox" in container:
                return container["bbox"]
        return None

    def retrieve(*args: Any, **kwargs: Any) -> Any:
        bbox = bbox_of(kwargs)
        values = bbox.split(",") if isinstance(bbox, str) else bbox
        if not (isinstance(values, list) and len(values) == 6 and kwargs.get("status_code", 200) == 200):
            return original(*args, **kwargs)
        method, url, _errors, *rest = args  # tolerated failures are printed, not added to it
        scratch = validations.Errors()
        try:
            result = original(method, url, scratch, *rest, **kwargs)
        except requests.ConnectionError as error:
            scratch += f"{method} {url} bbox={bbox}: connection dropped ({error})"
            result = (0, None, None)
        for message in scratch:
            print(f"tolerated 3d bbox: {message}", file=sys.stderr)
        return result

    validations.retrieve = retrieve


def _validate_api_main(argv: list[str]) -> int:
    _offline_schemas()
    if "--tolerate-3d-bbox-failure" in argv:
        argv = [arg for arg in argv if arg != "--tolerate-3d-bbox-failure"]
        _tolerate_3d_bbox_failure()
    from stac_api_validator.__main__ import main

    # Not standalone: click then returns main()'s own exit code instead of exiting with 0.
    return int(main.main(args=argv, prog_name="stac-api-validator", standalone_mode=False) or 0)


def _watchdog(parent: int, workdir: Path) -> None:
    """Stop a server's process groups and remove its files once ``parent`` (the test process) is gone."""
    groups_file = workdir / WATCHED_GROUPS
    while os.getppid() == parent:  # re-parented when the test process dies
        if not groups_file.exists():
            return  # stopped normally
        time.sleep(0.5)
    try:
        groups = [tuple(map(int, line.split())) for line in groups_file.read_text().splitlines() if line.strip()]
    except FileNotFoundError:
        return
    own = os.getpgid(0)
    for pgid, stop_signal in reversed(groups):
        if pgid == own:
            continue
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, stop_signal)
    deadline = time.monotonic() + 10
    for pgid, _ in groups:
        if pgid == own:
            continue
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)
    shutil.rmtree(workdir, ignore_errors=True)


def _main(argv: list[str]) -> int:
    if argv and argv[0] == "validate-api":
        return _validate_api_main(argv[1:])
    parser = argparse.ArgumentParser(prog="stac_servers.py")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve-geoparquet")
    serve.add_argument("--workdir", type=Path, required=True)
    serve.add_argument("--port", type=int, required=True)
    serve.add_argument("--title", default="stac-fastapi-geoparquet")
    watchdog = sub.add_parser("watchdog")
    watchdog.add_argument("--parent", type=int, required=True)
    watchdog.add_argument("--workdir", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "watchdog":
        _watchdog(args.parent, args.workdir)
    else:
        _serve_geoparquet(args.workdir, args.port, args.title)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
