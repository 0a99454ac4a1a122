"""Where the real data behind the demo lake lives: files shipped in PyPI packages (always) and Debian packages
(when installed, or unpacked with ``scripts/fetch-debian-sources.sh`` into ``$GAIA_LAB_DEBIAN_SOURCES``)."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from gaia_lab.errors import DataBuildError


@dataclass(frozen=True)
class Source:
    """One source file and where it comes from (shown in reports and STAC provenance)."""

    path: Path
    package: str
    licence: str

    @property
    def fingerprint(self) -> list[int]:
        stat = self.path.stat()
        return [stat.st_size, stat.st_mtime_ns]


def package_file(package: str, module: str, relative: str, licence: str) -> Source:
    """A file inside an installed PyPI package, found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise DataBuildError(f"the PyPI package {package!r} is not installed: pip install {package}", source=relative)
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise DataBuildError(f"not found in the installed {package!r} package (version changed?)", source=str(path))
    return Source(path, package, licence)


def debian_roots() -> list[Path]:
    roots = [Path("/")]
    if extra := os.environ.get("GAIA_LAB_DEBIAN_SOURCES"):
        roots.insert(0, Path(extra))
    repo_cache = Path(__file__).resolve().parents[2] / ".cache" / "debian"
    roots.insert(0, repo_cache)
    return roots


def debian_file(package: str, relative: str, licence: str) -> Source | None:
    """A file from a Debian package if it is installed or unpacked; ``None`` otherwise (these are extras)."""
    for root in debian_roots():
        path = root / relative.lstrip("/")
        if path.is_file():
            return Source(path, f"{package} (Debian)", licence)
    return None


def iris(relative: str) -> Source:
    return package_file("iris-sample-data", "iris_sample_data", f"sample_data/{relative}", "OGL-UK-3.0")


def pvlib(relative: str) -> Source:
    return package_file("pvlib", "pvlib", f"data/{relative}", "BSD-3-Clause")


def land_mask() -> Source:
    return package_file("global-land-mask", "global_land_mask", "globe_combined_mask_compressed.npz", "MIT")
