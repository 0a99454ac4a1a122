"""Import a module right after another one is imported: how ``import gaia_lab`` stays light (no xarray, pandas,
dask) and still registers the ``ds.gaia`` accessor the moment xarray is imported, and ``SearchResults.explore()`` the
moment the catalogue is.

A follower runs once no gaia_lab module is being imported in this thread any more: xarray is often first imported
from inside a gaia_lab module (the catalogue's entries), and importing the follower there would re-enter modules
that are only half executed.
"""

from __future__ import annotations

import importlib
import sys
import threading
from collections.abc import Sequence
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any


class AfterImport(MetaPathFinder):
    def __init__(self, follow: dict[str, str]) -> None:
        self._follow = dict(follow)  # module -> module to import after it (once)
        self._pending: list[str] = []
        self._lock = threading.Lock()
        self._local = threading.local()  # .depth: gaia_lab (or watched) modules being executed in this thread

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname not in self._follow and not fullname.startswith("gaia_lab."):
            return None
        spec = _spec_from_other_finders(self, fullname, path, target)
        exec_module = getattr(spec.loader, "exec_module", None) if spec is not None else None
        if spec is None or exec_module is None:
            return spec

        def run(module: ModuleType) -> None:
            depth = getattr(self._local, "depth", 0)
            self._local.depth = depth + 1
            try:
                exec_module(module)
            finally:
                self._local.depth = depth
            # Taken only once the module ran: ``importlib.util.find_spec`` (an optional-dependency check) asks for
            # a spec without importing.
            with self._lock:
                follower = self._follow.pop(fullname, None)
                if follower is not None:
                    self._pending.append(follower)
            if depth == 0:
                self.flush()

        # Loaders are made per spec: patching this one changes no other module's import.
        setattr(spec.loader, "exec_module", run)  # noqa: B010
        return spec

    def flush(self) -> None:
        while True:
            with self._lock:
                if not self._pending:
                    return
                follower = self._pending.pop(0)
            importlib.import_module(follower)


def _spec_from_other_finders(
    skip: Any, fullname: str, path: Sequence[str] | None, target: ModuleType | None
) -> ModuleSpec | None:
    for finder in sys.meta_path:
        find_spec = getattr(finder, "find_spec", None)
        if finder is skip or find_spec is None:
            continue
        spec: ModuleSpec | None = find_spec(fullname, path, target)
        if spec is not None:
            return spec
    return None


def follow_imports(follow: dict[str, str]) -> None:
    """Import each value right after its key is imported (at once if it already is); installed once per process."""
    now = [follower for module, follower in follow.items() if module in sys.modules]
    later = {module: follower for module, follower in follow.items() if module not in sys.modules}
    if later and not any(isinstance(finder, AfterImport) for finder in sys.meta_path):
        sys.meta_path.insert(0, AfterImport(later))
    for follower in now:
        importlib.import_module(follower)
