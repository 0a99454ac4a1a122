"""System accounts of hub users, for a platform started as root (a shared VM), as The Littlest JupyterHub does.

Every hub user runs as an account of its own, ``<prefix><name>``, made on first use by the hub's spawner or the
gateway (whichever comes first), with its home ``<homes dir>/<name>`` (mode 0700). Hub names that cannot be account
names (too long, other characters) get a readable part and a hash. The account's comment (GECOS) field says which
hub user it belongs to: an existing account without that mark, or marked for another hub user, is never used.

Also here: preparing a home as root without trusting anything in it (every step relative to a directory descriptor,
never following a link the user could have planted), and finding and stopping every process of the accounts.

Imported by the hub process, which must not import gaia_lab's scientific stack: standard library and
gaia_lab.errors only.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gaia_lab.errors import PlatformError

NAME_MAX = 32  # useradd's limit on Linux
TAG = "GAIA Lab user "  # start of the comment field of every account the platform made
FIRST_UID = 1000  # accounts below are the system's own
_SIMPLE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_SAFE_COMMENT = re.compile(r"^[A-Za-z0-9._@+-]{1,64}$")
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW
_NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
WORKSHOP = "workshop"
_PARTIAL = "workshop.partial"
WORKSHOP_COPY = "my-workshop"  # the user's own, writable copy of the workshop folder, made at their first spawn
_COPY_PARTIAL = "my-workshop.partial"
_IGNORED = {".ipynb_checkpoints", "__pycache__"}
# JupyterLab asks every new user whether to fetch Jupyter's news feed (an internet call); the answer is no.
_NEWS_DIR = (".jupyter", "lab", "user-settings", "@jupyterlab", "apputils-extension")
_NEWS_FILE = "notification.jupyterlab-settings"


def _error(message: str) -> PlatformError:
    return PlatformError(message, component="accounts")


def _digest(hub_name: str) -> str:
    return hashlib.sha256(hub_name.encode()).hexdigest()[:8]


def account_name(hub_name: str, prefix: str) -> str:
    """``prefix + hub_name`` when that is a valid account name of at most 32 characters, else a readable part of the
    hub name and 8 hex digits of its hash."""
    if not hub_name:
        raise _error("an empty hub user name has no account")
    room = NAME_MAX - len(prefix)
    if _SIMPLE.match(hub_name) and len(hub_name) <= room:
        return prefix + hub_name
    readable = re.sub(r"[^a-z0-9]+", "-", hub_name.lower()).strip("-")[: room - 9].rstrip("-")
    return f"{prefix}{readable}-{_digest(hub_name)}" if readable else f"{prefix}{_digest(hub_name)}"


def comment(hub_name: str) -> str:
    """The comment field that marks the account of ``hub_name`` (the name itself when it is safe there)."""
    return TAG + (hub_name if _SAFE_COMMENT.match(hub_name) else f"sha256:{_digest(hub_name)}")


@dataclass(frozen=True)
class Account:
    name: str
    hub_name: str  # as recorded in the comment field (a hash for names that cannot be written there)
    uid: int
    gid: int
    home: Path

    @classmethod
    def from_pwd(cls, entry: pwd.struct_passwd) -> Account:
        return cls(entry.pw_name, entry.pw_gecos.removeprefix(TAG), entry.pw_uid, entry.pw_gid, Path(entry.pw_dir))


class Accounts:
    """The accounts of one platform: their prefix, where their homes are, the lock shared by hub and gateway."""

    def __init__(self, prefix: str, homes_dir: str | os.PathLike[str], lock_file: str | os.PathLike[str] | None = None):
        self.prefix = prefix
        self.homes_dir = Path(homes_dir)
        self.lock_file = Path(lock_file) if lock_file else None

    def name(self, hub_name: str) -> str:
        return account_name(hub_name, self.prefix)

    def home(self, hub_name: str) -> Path:
        return self.homes_dir / self.name(hub_name)[len(self.prefix) :]

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        if self.lock_file is None:
            yield
            return
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    def ensure(self, hub_name: str) -> Account:
        """The account of ``hub_name``, made with its home if missing; PlatformError if the name is taken."""
        name, home, mark = self.name(hub_name), self.home(hub_name), comment(hub_name)
        with self._locked():
            try:
                entry = pwd.getpwnam(name)
            except KeyError:
                entry = self._create(name, home, mark)
        if entry.pw_gecos != mark:
            raise _error(
                f"system account {name!r} exists but is not the GAIA Lab account of hub user {hub_name!r} "
                f"(its comment is {entry.pw_gecos!r}); remove it or choose another account_prefix"
            )
        if entry.pw_uid < FIRST_UID:
            raise _error(f"system account {name!r} has uid {entry.pw_uid}, below {FIRST_UID}: refusing to use it")
        if Path(entry.pw_dir) != home:
            raise _error(f"system account {name!r} has home {entry.pw_dir}, expected {home}")
        _secure_home(home, entry.pw_uid, entry.pw_gid)
        return Account.from_pwd(entry)

    def _create(self, name: str, home: Path, mark: str) -> pwd.struct_passwd:
        command = ["useradd", "--create-home", "--home-dir", str(home), "--shell", "/bin/bash", "--comment", mark]
        command += ["--key", "HOME_MODE=0700", name]
        try:
            proc = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        except OSError as exc:
            raise _error(f"cannot run useradd: {exc}") from exc
        if proc.returncode != 0:
            raise _error(f"useradd {name} failed ({proc.returncode}): {proc.stderr.strip()}")
        return pwd.getpwnam(name)

    def all(self) -> list[Account]:
        """The accounts this platform made (its prefix and the mark in their comment field)."""
        return sorted(
            (
                Account.from_pwd(entry)
                for entry in pwd.getpwall()
                if entry.pw_name.startswith(self.prefix) and entry.pw_gecos.startswith(TAG)
            ),
            key=lambda account: account.name,
        )

    def find(self, name: str) -> Account | None:
        """An account of this platform by account name or hub user name."""
        for account in self.all():
            if name in (account.name, account.hub_name) or account.name == self.name(name):
                return account
        return None

    def uids(self) -> set[int]:
        return {account.uid for account in self.all()}

    def remove(self, account: Account, *, force: bool = False) -> list[int]:
        """Delete the account, its home and group; with ``force`` first stop its processes (their pids)."""
        running = processes_of({account.uid})
        if running and not force:
            raise _error(
                f"{account.name} has {len(running)} running process(es) (pids {running[:10]}); stop the platform "
                "or the user's server first, or force"
            )
        stopped = stop_processes_of({account.uid})
        with self._locked():
            proc = subprocess.run(
                ["userdel", "--remove", account.name], capture_output=True, text=True, timeout=60, check=False
            )
        # 6: no such user (removed meanwhile); 12: the home could not be removed (done below).
        if proc.returncode not in (0, 6, 12):
            raise _error(f"userdel {account.name} failed ({proc.returncode}): {proc.stderr.strip()}")
        if account.home.is_relative_to(self.homes_dir) and account.home.is_dir() and not account.home.is_symlink():
            shutil.rmtree(account.home)
        return stopped


def _secure_home(home: Path, uid: int, gid: int) -> None:
    """The home exists, is a directory owned by the account, mode 0700 (useradd's HOME_MODE is not everywhere)."""
    try:
        fd = os.open(home, _DIR)
    except FileNotFoundError:
        os.mkdir(home, 0o700)
        fd = os.open(home, _DIR)
        os.fchown(fd, uid, gid)
    except OSError as exc:
        raise _error(f"home {home} is not a directory ({exc.strerror})") from None
    try:
        if os.fstat(fd).st_uid != uid:
            raise _error(f"home {home} belongs to uid {os.fstat(fd).st_uid}, not to the account (uid {uid})")
        os.fchmod(fd, 0o700)
    finally:
        os.close(fd)


# -- homes: prepared by the hub (root with system accounts), trusting nothing in them ----------------------------


def prepare_home(home: str | os.PathLike[str], *, workshop: str | None = None) -> None:
    """JupyterLab's news question answered, and the workshop folder copied in read-only (once) with, the first time,
    a writable copy of the user's own next to it (``~/my-workshop``)."""
    home_fd = os.open(home, _DIR)
    try:
        owner = os.fstat(home_fd)
        _write_news_setting(home_fd, owner.st_uid, owner.st_gid)
        if workshop and copy_workshop(workshop, home_fd):
            copy_workshop_for_user(workshop, home_fd)
    finally:
        os.close(home_fd)


def _chown(fd: int, uid: int, gid: int) -> None:
    if os.geteuid() == 0 and uid != 0:
        os.fchown(fd, uid, gid)


def _open_or_make_dir(name: str, parent: int, uid: int, gid: int) -> int:
    try:
        return os.open(name, _DIR, dir_fd=parent)
    except FileNotFoundError:
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, 0o755, dir_fd=parent)
        fd = os.open(name, _DIR, dir_fd=parent)
        _chown(fd, uid, gid)
        return fd


def _write_news_setting(home_fd: int, uid: int, gid: int) -> None:
    fd = os.dup(home_fd)
    try:
        for part in _NEWS_DIR:
            sub = _open_or_make_dir(part, fd, uid, gid)
            os.close(fd)
            fd = sub
        file = os.open(_NEWS_FILE, _NEW_FILE, 0o644, dir_fd=fd)
    except OSError as exc:
        # Already answered (the file exists), or the user made these paths something else: theirs to keep.
        if exc.errno not in (errno.EEXIST, errno.ELOOP, errno.ENOTDIR, errno.EACCES):
            raise
        return
    finally:
        os.close(fd)
    with os.fdopen(file, "w") as handle:
        json.dump({"fetchNews": "false"}, handle)
        _chown(handle.fileno(), uid, gid)


def copy_workshop(source: str | os.PathLike[str], home: int | str | os.PathLike[str]) -> bool:
    """Copy the folder ``source`` into the home as ``workshop``, read-only (files 0444, folders 0555, owned by the
    platform's account, so a user can read and run it but not change it); False if ``workshop`` exists.

    The course material stays as the trainer wrote it: participants save their own copies elsewhere. A later spawn
    leaves an existing ``~/workshop`` alone. The copy is built next to the target and renamed into place, so an
    interrupted spawn never leaves half a workshop (its leftover is removed first).
    """
    home_fd = home if isinstance(home, int) else os.open(home, _DIR)
    try:
        try:
            os.stat(WORKSHOP, dir_fd=home_fd, follow_symlinks=False)
            return False
        except FileNotFoundError:
            pass
        with contextlib.suppress(FileNotFoundError):
            _remove_tree(_PARTIAL, home_fd)
        os.mkdir(_PARTIAL, 0o700, dir_fd=home_fd)
        fd = os.open(_PARTIAL, _DIR, dir_fd=home_fd)
        try:
            if os.fstat(fd).st_uid != os.geteuid():
                raise _error(f"{_PARTIAL} in the home was replaced while the workshop was being copied")
            _copy_into(Path(source), fd)
            os.rename(_PARTIAL, WORKSHOP, src_dir_fd=home_fd, dst_dir_fd=home_fd)
            os.fchmod(fd, 0o555)
        finally:
            os.close(fd)
        return True
    finally:
        if not isinstance(home, int):
            os.close(home_fd)


def copy_workshop_for_user(source: str | os.PathLike[str], home: int | str | os.PathLike[str]) -> bool:
    """Copy the folder ``source`` into the home as ``my-workshop``, the home owner's and writable (files 0644,
    folders 0755): the notebooks to run, change and save, next to the read-only originals. False if it exists.

    Built in a folder of the platform's account (0700, which the user cannot enter) and handed over only once
    complete: a user cannot redirect the copy through links placed in their home while it is made.
    """
    home_fd = home if isinstance(home, int) else os.open(home, _DIR)
    try:
        try:
            os.stat(WORKSHOP_COPY, dir_fd=home_fd, follow_symlinks=False)
            return False
        except FileNotFoundError:
            pass
        owner = os.fstat(home_fd)
        with contextlib.suppress(FileNotFoundError):
            _remove_tree(_COPY_PARTIAL, home_fd)
        os.mkdir(_COPY_PARTIAL, 0o700, dir_fd=home_fd)
        fd = os.open(_COPY_PARTIAL, _DIR, dir_fd=home_fd)
        try:
            if os.fstat(fd).st_uid != os.geteuid():
                raise _error(f"{_COPY_PARTIAL} in the home was replaced while the workshop was being copied")
            _copy_into(Path(source), fd, owner=(owner.st_uid, owner.st_gid))
            os.rename(_COPY_PARTIAL, WORKSHOP_COPY, src_dir_fd=home_fd, dst_dir_fd=home_fd)
            _chown(fd, owner.st_uid, owner.st_gid)
            os.fchmod(fd, 0o755)
        finally:
            os.close(fd)
        return True
    finally:
        if not isinstance(home, int):
            os.close(home_fd)


def _remove_tree(name: str, parent: int) -> None:
    if not stat.S_ISDIR(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode):
        os.unlink(name, dir_fd=parent)  # a link or a file where the copy is made: the entry goes, not its target
        return
    if os.geteuid() != 0:
        # Without root the read-only folders of a copy must be made writable before their entries can go.
        for _root, _dirs, _files, dir_fd in os.fwalk(name, dir_fd=parent):
            os.chmod(dir_fd, 0o700)
    shutil.rmtree(name, dir_fd=parent)  # descriptor-based: never follows a link out of the tree


def _copy_into(source: Path, target_fd: int, owner: tuple[int, int] | None = None) -> None:
    """Copy ``source`` into ``target_fd``: read-only and the platform's, or, with ``owner``, writable and theirs."""
    dir_mode, file_mode = (0o755, 0o644) if owner else (0o555, 0o444)
    for entry in sorted(os.scandir(source), key=lambda e: e.name):
        if entry.name in _IGNORED:
            continue
        if entry.is_dir():  # the trainer's folder: links in it are followed
            os.mkdir(entry.name, 0o700, dir_fd=target_fd)
            sub = os.open(entry.name, _DIR, dir_fd=target_fd)
            try:
                _copy_into(Path(entry.path), sub, owner)
                if owner:
                    _chown(sub, *owner)
                os.fchmod(sub, dir_mode)
            finally:
                os.close(sub)
        elif entry.is_file():
            with open(entry.path, "rb") as reader:
                fd = os.open(entry.name, _NEW_FILE, 0o600, dir_fd=target_fd)
                with os.fdopen(fd, "wb") as writer:
                    shutil.copyfileobj(reader, writer)
                    if owner:
                        _chown(writer.fileno(), *owner)
                    os.fchmod(writer.fileno(), file_mode)


# -- processes of the accounts ---------------------------------------------------------------------------------


def processes_of(uids: set[int]) -> list[int]:
    """Pids of the processes whose real or effective uid is one of ``uids``."""
    if not uids:
        return []
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        if "\nState:\tZ" in status:
            continue  # a zombie is gone, only not yet reaped by its parent
        for line in status.splitlines():
            if line.startswith("Uid:"):
                real, effective = (int(value) for value in line.split()[1:3])
                if real in uids or effective in uids:
                    found.append(int(entry.name))
                break
    return found


def stop_processes_of(uids: set[int], timeout: float = 10.0) -> list[int]:
    """SIGTERM every process of the accounts, SIGKILL what is left after ``timeout``, again while new ones appear
    (a process may fork while it is being stopped); returns every pid signalled."""
    signalled: set[int] = set()
    deadline = time.monotonic() + timeout
    kill_deadline = deadline + 10.0
    while pids := processes_of(uids):
        now = time.monotonic()
        if now > kill_deadline:
            raise _error(f"processes of uids {sorted(uids)} keep appearing: {pids[:10]}")
        sig = signal.SIGTERM if now < deadline else signal.SIGKILL
        for pid in pids:
            if pid not in signalled or sig == signal.SIGKILL:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
                signalled.add(pid)
        time.sleep(0.1)
    return sorted(signalled)
