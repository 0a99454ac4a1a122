"""What must hold before the components start: a demo lake, and (with system accounts) a session Python every
account can run and files they can read."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from gaia_lab.errors import GaiaLabError, PlatformError
from gaia_lab.platform.layout import unreachable


def ensure_lake(lake_dir: Path, out: Callable[[str], None]) -> None:
    if (lake_dir / "federation.yaml").is_file():
        return
    try:
        from gaia_lab.datalake import build_lake  # type: ignore[attr-defined,unused-ignore]
    except ImportError as exc:
        raise PlatformError(f"cannot build the demo lake into {lake_dir}: {exc}", component="lake") from exc
    out(f"Building the demo data lake in {lake_dir} (first start only) ...")
    started = time.monotonic()
    try:
        build_lake(lake_dir)
    except GaiaLabError as exc:
        raise PlatformError(f"building the lake in {lake_dir} failed: {exc}", component="lake") from exc
    out(f"  lake built in {time.monotonic() - started:.1f} s")


# Run as an account that owns nothing: what a fresh user account may do, it may do.
_NOBODY = 65534
_PROBE = (
    "import importlib.util as u\n"
    "for name in ('gaia_lab', 'jupyterhub', 'distributed', 'dask_gateway'):\n"
    "    spec = u.find_spec(name)\n"
    "    assert spec and spec.origin, f'{name} is not installed'\n"
    "    open(spec.origin, 'rb').close()\n"
)


def check_session_python(session_python: str) -> None:
    """PlatformError unless other accounts can run the session Python and its commands and import gaia_lab."""
    bin_dir = Path(session_python).parent
    for path in (Path(session_python), bin_dir / "jupyterhub-singleuser", bin_dir / "dask"):
        if not path.exists():
            raise PlatformError(f"{path} does not exist; install gaia-lab[platform] there", component="accounts")
        why = unreachable(path)
        if why:
            raise PlatformError(
                f"user accounts cannot run {path}: {why}. Set `python` in the platform config to a virtualenv every "
                "account can run (e.g. one made with /usr/bin/python3 under /opt), see docs/platform.md",
                component="accounts",
            )
    try:
        proc = subprocess.run(
            [session_python, "-I", "-c", _PROBE],
            user=_NOBODY,
            group=_NOBODY,
            extra_groups=[],
            cwd="/",
            env={"PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except OSError as exc:
        message = f"cannot run {session_python} as an unprivileged account: {exc}"
        raise PlatformError(message, component="accounts") from exc
    if proc.returncode != 0:
        raise PlatformError(
            f"{session_python} run by an unprivileged account cannot import the session packages: "
            f"{proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}",
            component="accounts",
        )


def check_shared_dir(paths: list[Path]) -> None:
    """PlatformError when accounts could not reach their homes, cluster directories or the session catalogue."""
    for path in paths:
        why = unreachable(path)
        if why:
            raise PlatformError(
                f"user accounts cannot reach {path}: {why}; choose a shared_dir outside it", component="accounts"
            )


def check_lake(lake_dir: Path) -> None:
    """PlatformError when accounts could change the lake that every session reads."""
    for path in (lake_dir, lake_dir / "federation.yaml"):
        mode = path.stat().st_mode
        if mode & 0o022:
            raise PlatformError(
                f"{path} is writable by other accounts (mode {mode & 0o777:04o}); run `chmod go-w {path}`",
                component="lake",
            )
