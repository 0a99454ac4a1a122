"""Warm processes: one process of the sessions' Python that has already imported what a command needs forks each
process asked for, instead of a new interpreter importing it all again. Dask Gateway's schedulers and workers (dask,
distributed, dask-gateway: 1-3 s per process on a small, busy machine; a cluster's first result waits for a
scheduler and a worker) and the hub's JupyterLab servers (jupyter_server, JupyterLab and their extensions: 2-3 s
of a login) start this way.

The gateway sends, over a Unix socket only its own account can open, the command (a console script of the sessions'
environment, such as ``dask scheduler ...``), its environment, working directory, the account to run as and the log
file (as a descriptor). The forked child becomes that process exactly as the gateway's own ``subprocess`` start would
make it (new session, the account's groups and ids, the working directory, the log as stdout and stderr, the given
environment, dask's configuration read again from it, the account's own user site-packages on ``sys.path``), then
runs the console script's function. The server reaps its children, so liveness checks by pid see them end.

Some variables are read once, when a module is imported (``JUPYTERHUB_SINGLEUSER_APP`` picks jupyterhub-singleuser's
application class), and the interpreter reads ``PYTHON*`` variables when it starts: a request whose values of those
differ from the server's own is refused, and the caller starts the process the usual way.

Run as ``python -m gaia_lab.platform.warm_processes --socket PATH [--preload MODULE ...]``; imports only the standard
library until it preloads.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import importlib
import json
import os
import signal
import socket
import stat
import struct
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

# What a scheduler and a worker of Dask Gateway import before serving: loaded once, shared by every fork.
DEFAULT_PRELOAD = (
    "dask",
    "dask.cli",
    "distributed",
    "distributed.cli.dask_scheduler",
    "distributed.cli.dask_worker",
    "dask_gateway",
    "dask_gateway.scheduler_preload",
    # The dashboards and HTTP routes a scheduler and a nanny import when they start (bokeh, jupyter-server-proxy,
    # prometheus-client): skipped where not installed.
    "distributed.dashboard.scheduler",
    "distributed.dashboard.worker",
    "distributed.http.scheduler.info",
    "distributed.http.scheduler.json",
    "distributed.http.scheduler.prometheus",
    "distributed.http.worker.prometheus",
    "distributed.http.proxy",
    "distributed.http.health",
    "distributed.http.statics",
)
# Read at interpreter start-up or at import by the preloaded modules: a forked child would not see another value.
PINNED_ENV = (
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONUSERBASE",
    "PYTHONNOUSERSITE",
    "PYTHONSAFEPATH",
    "PYTHONOPTIMIZE",
    "JUPYTERHUB_SINGLEUSER_APP",
    "JUPYTERHUB_SINGLEUSER_EXTENSION",
)
# All a server takes from the environment of the process starting it: whatever else that process holds (the hub's
# or the gateway's tokens and keys) must not enter the memory every fork inherits, where users' code runs.
SERVER_ENV = ("PATH", "HOME", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", *PINNED_ENV)
# A request is a command line and an environment: far below this.
MAX_REQUEST = 1 << 20
HEADER = struct.Struct("!I")


class WarmProcessError(Exception):
    """The warm-process server refused or failed a start; the caller starts the process the usual way."""


@dataclass(frozen=True)
class Identity:
    """The account a process runs as."""

    uid: int
    gid: int
    groups: tuple[int, ...]


# -- the gateway's side -----------------------------------------------------------------------------------------------
def spawn(
    socket_path: str,
    argv: Sequence[str],
    env: dict[str, str],
    *,
    cwd: str,
    log_fd: int,
    identity: Identity | None = None,
    timeout: float = 10.0,
) -> int:
    """Have the server at ``socket_path`` fork ``argv``; its pid."""
    request: dict[str, Any] = {"argv": list(argv), "env": env, "cwd": cwd}
    if identity is not None:
        request["identity"] = [identity.uid, identity.gid, list(identity.groups)]
    body = json.dumps(request).encode()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(timeout)
            connection.connect(socket_path)
            socket.send_fds(connection, [HEADER.pack(len(body))], [log_fd])
            connection.sendall(body)
            connection.shutdown(socket.SHUT_WR)
            reply = _read_all(connection)
    except OSError as error:
        raise WarmProcessError(f"warm-process server at {socket_path}: {error}") from None
    try:
        answer = json.loads(reply)
    except ValueError:
        raise WarmProcessError(f"warm-process server at {socket_path} answered {reply[:200]!r}") from None
    if "error" in answer:
        raise WarmProcessError(str(answer["error"]))
    return int(answer["pid"])


def identity_of(account: str) -> Identity:
    """The ids and groups of a system account, as a start as that account takes them."""
    import pwd

    entry = pwd.getpwnam(account)
    return Identity(entry.pw_uid, entry.pw_gid, tuple(os.getgrouplist(account, entry.pw_gid)))


def server_environment(environ: Mapping[str, str], keep: Sequence[str] = ()) -> dict[str, str]:
    """The environment to start a server with: ``SERVER_ENV`` and ``keep`` of ``environ``, nothing else."""
    return {name: environ[name] for name in (*SERVER_ENV, *keep) if name in environ}


def ready(socket_path: str, timeout: float = 1.0) -> bool:
    """Whether a server answers at ``socket_path``."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(timeout)
            connection.connect(socket_path)
        return True
    except OSError:
        return False


def switch_to(identity: Identity) -> None:
    """Become ``identity`` (root only): its groups first, while still allowed to set them."""
    os.setgroups(list(identity.groups))
    os.setgid(identity.gid)
    os.setuid(identity.uid)


def _read_all(connection: socket.socket) -> bytes:
    chunks = []
    while chunk := connection.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


# -- the server -------------------------------------------------------------------------------------------------------
class Server:
    def __init__(self, socket_path: str, scripts: dict[str, Callable[[], Any]]) -> None:
        self.socket_path = socket_path
        # Console scripts of this environment, by name: the only commands a request may name.
        self.scripts = scripts
        self.bin_dir = os.path.dirname(sys.executable)
        self.pinned = {name: os.environ.get(name) for name in PINNED_ENV}

    def serve(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.socket_path)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)
        try:
            listener.bind(self.socket_path)
        finally:
            os.umask(old_umask)
        os.chmod(self.socket_path, stat.S_IRUSR | stat.S_IWUSR)
        listener.listen(64)
        signal.signal(signal.SIGCHLD, _reap)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            while True:
                connection, _ = listener.accept()
                with connection:
                    self._answer(listener, connection)
        finally:
            listener.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.socket_path)

    def _answer(self, listener: socket.socket, connection: socket.socket) -> None:
        connection.settimeout(10.0)
        fds: list[int] = []
        try:
            header, fds, _, _ = socket.recv_fds(connection, HEADER.size, 1)
            (length,) = HEADER.unpack(_receive(connection, header, HEADER.size))
            if length > MAX_REQUEST or len(fds) != 1:
                raise WarmProcessError("malformed request")
            request = json.loads(_receive(connection, b"", length))
            argv, env, cwd = list(request["argv"]), dict(request["env"]), str(request["cwd"])
            main = self._script(argv)
            self._check_pinned(env)
            identity = (
                Identity(request["identity"][0], request["identity"][1], tuple(request["identity"][2]))
                if (request.get("identity"))
                else None
            )
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - runs in the child, which ends with os._exit
                _become(listener, connection, fds[0], argv, env, cwd, identity, main)
            connection.sendall(json.dumps({"pid": pid}).encode())
        except (WarmProcessError, OSError, ValueError, KeyError, TypeError, IndexError) as error:
            with contextlib.suppress(OSError):
                connection.sendall(json.dumps({"error": f"{type(error).__name__}: {error}"}).encode())
        finally:
            for fd in fds:
                os.close(fd)

    def _script(self, argv: list[str]) -> Callable[[], Any]:
        if not argv:
            raise WarmProcessError("empty command")
        command = argv[0]
        if os.path.dirname(command) not in ("", self.bin_dir) or os.path.basename(command) not in self.scripts:
            raise WarmProcessError(f"{command!r} is not one of this environment's commands {sorted(self.scripts)}")
        return self.scripts[os.path.basename(command)]

    def _check_pinned(self, env: dict[str, str]) -> None:
        differ = sorted(name for name, value in self.pinned.items() if env.get(name) != value)
        if differ:
            raise WarmProcessError(f"{', '.join(differ)} differ from this server's (read when it started)")


def _receive(connection: socket.socket, start: bytes, size: int) -> bytes:
    """``start`` completed to ``size`` bytes from ``connection``."""
    data = start
    while len(data) < size:
        more = connection.recv(size - len(data))
        if not more:
            raise WarmProcessError("request cut short")
        data += more
    return data


def _reap(signum: int, frame: Any) -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _become(
    listener: socket.socket,
    connection: socket.socket,
    log_fd: int,
    argv: list[str],
    env: dict[str, str],
    cwd: str,
    identity: Identity | None,
    main: Callable[[], Any],
) -> None:  # pragma: no cover - runs in the child
    code = 1
    try:
        listener.close()
        connection.close()
        for signum in (signal.SIGCHLD, signal.SIGTERM):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        os.setsid()
        # The log first: whatever fails next is told there.
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.close(log_fd)
        if identity is not None:
            switch_to(identity)
        if sys.path and sys.path[0] == os.getcwd():
            # ``python -m`` put the server's working directory first; a console script has its own directory there.
            sys.path[0] = os.path.dirname(argv[0]) or sys.path[0]
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        _retitle(argv)
        _use_own_user_site()
        if "dask.config" in sys.modules:
            # dask read its configuration (DASK_* variables, YAML files) when the server imported it: read it again.
            sys.modules["dask.config"].refresh()
        sys.argv = argv
        result = main()
        code = result if isinstance(result, int) else 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _use_own_user_site() -> None:  # pragma: no cover - runs in the child
    """The account's user site-packages (under its ``HOME``) on ``sys.path`` in place of the server's, as a new
    interpreter of this account would have it (nothing to do in a virtual environment, which has none)."""
    import site

    if not site.ENABLE_USER_SITE:
        return
    server_site = site.USER_SITE
    site.USER_BASE = site.USER_SITE = None
    own_site = site.getusersitepackages()
    if server_site in sys.path:
        sys.path.remove(server_site)
    if os.path.isdir(own_site):
        site.addsitedir(own_site)


def _retitle(argv: list[str]) -> None:  # pragma: no cover - runs in the child
    """Show the command this process runs, not the server's, in ``ps`` and ``/proc/<pid>/cmdline``.

    The kernel reads a process's command line from the process's own memory, between the addresses in fields 48
    and 49 of ``/proc/self/stat``: the command is written there (cut to the server's own command line's length,
    which its list of preloaded modules keeps long), and the short name (``comm``) is set with ``prctl``."""
    import ctypes

    try:
        fields = Path("/proc/self/stat").read_bytes().rsplit(b")", 1)[1].split()
        start, end = int(fields[48 - 3]), int(fields[49 - 3])  # fields after the name start at field 3
        size = end - start
        title = b"\0".join(arg.encode() for arg in argv)[: size - 1]
        ctypes.memmove(start, title.ljust(size, b"\0"), size)
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_name = 15
        libc.prctl(pr_set_name, os.path.basename(argv[0]).encode()[:15], 0, 0, 0)
    except (OSError, ValueError, IndexError, AttributeError):
        pass  # a kernel without these fields: the server's command line stays


def fork_hazards() -> str:
    """What this process holds that its forks must not share: other threads (their locks may be held at the fork)
    or an event loop (an epoll instance and wake-up sockets are shared across a fork: one process's loop then takes
    another's events, as a module creating its loop at import would cause). Empty when forking is safe."""
    import threading

    hazards = []
    if threading.active_count() > 1:
        hazards.append(f"{threading.active_count() - 1} thread(s) running")
    with contextlib.suppress(OSError):
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:[eventpoll]":
                    hazards.append("an event loop (epoll) open")
                    break
    return ", ".join(hazards)


def console_scripts(names: Sequence[str]) -> dict[str, Callable[[], Any]]:
    found: dict[str, Callable[[], Any]] = {}
    for point in metadata.entry_points(group="console_scripts"):
        if point.name in names and point.name not in found:
            found[point.name] = point.load()
    missing = sorted(set(names) - set(found))
    if missing:
        raise SystemExit(f"no console script {missing} in {sys.prefix}")
    return found


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gaia_lab.platform.warm_processes", description=__doc__)
    parser.add_argument("--socket", required=True, help="Unix socket to listen on (made 0600)")
    parser.add_argument("--preload", action="append", default=None, help="module to import before serving")
    parser.add_argument("--script", action="append", default=None, help="console script a request may run")
    args = parser.parse_args(argv)
    for module in args.preload if args.preload is not None else DEFAULT_PRELOAD:
        try:
            importlib.import_module(module)
        except ImportError as error:
            # An optional part (a dashboard without bokeh): the process that needs it imports it, or goes without.
            print(f"warm processes: not preloaded: {module} ({error})", file=sys.stderr, flush=True)
        if hazards := fork_hazards():
            raise SystemExit(f"warm processes: importing {module} left {hazards}: forks would share it; not serving")
    scripts = console_scripts(args.script or ["dask"])
    try:
        Server(args.socket, scripts).serve()
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise SystemExit(f"{args.socket} is in use") from None
        raise


if __name__ == "__main__":
    main()
