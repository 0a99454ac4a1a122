"""The lazycogs side of ``index_open``: a worker run by ``.venv-lazycogs/bin/python`` (Python >= 3.12, which
lazycogs 0.7.0 needs; see scripts/setup-lazycogs.sh), answering one JSON line on stdout for each JSON line read on
stdin. It imports nothing from GAIA Lab: only the packages of its own venv.

Requests (every answer carries ``"ok": true`` or an ``"error"``):

- ``{"op": "hello"}``: versions, and the construction time of the DuckDB client kept for the session.
- ``{"op": "open", "path", "bbox", "crs", "resolution", "chunks", "client"}``: ``lazycogs.open`` timed here, with
  ``client`` ``"shared"`` (one DuckdbClient reused across opens, as a user holding a session does) or ``"new"``
  (a client constructed for this open, what ``lazycogs.open`` does when given none, its construction timed too).
  Answers the seconds and the grid: shape (y, x), transform, time steps, bands.
- ``{"op": "mean", ...open's keys, "band", "steps", "threads", "mode", "out"}``: the mean over time of the first
  ``steps`` dates of ``band`` with a dask threaded scheduler of ``threads`` workers, timed here (the open is not:
  it is made once per set of arguments and kept). Saved to ``out`` (.npy) for the caller to compare.
  ``mode`` ``"workaround"``: ``nodata=-9999`` and ``.where(da != -9999)``; ``"released"``: lazycogs as released.
- ``{"op": "search", "path", "bbox", "datetime", "limit"}``: rustac's search of a stac-geoparquet file with the
  session's DuckDB client (``DuckdbClient.search``), timed here; answers the seconds and the items' ids.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

DUCKDB_VERSION = "v1.5.5"  # the DuckDB that rustac 0.9.17 embeds
# lazycogs 0.7.0 masks nodata with ``arr == nodata``, never true for NaN, the corpus' nodata: with NaN every item's
# NaN outside its footprint wins over the items after it. A sentinel it can compare, masked again before the mean,
# is what a user can do without patching lazycogs.
SENTINEL = -9999.0
OPS = ("hello", "open", "mean", "search")

# Run as a script, its folder comes first on sys.path, and benchmarks/platform.py would shadow the standard
# library's platform module for numpy and cloudpickle (the caller also passes -P).
if sys.path and sys.path[0] and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]


class Worker:
    def __init__(self) -> None:
        import lazycogs
        import rustac
        from obstore.store import from_url

        self.lazycogs = lazycogs
        self.rustac = rustac
        # The corpus' hrefs are bare absolute paths, which lazycogs' own store resolution rejects (a relative URL
        # without a base): the file:/// store with the href as its path, what lazycogs does for file:// hrefs.
        self.store = from_url("file:///")
        self.extensions = str(Path(sys.prefix) / "duckdb-extensions")
        self.shared: Any = None
        self.kept: dict[str, Any] = {}

    def client(self) -> Any:
        # Without these arguments the client downloads spatial, icu and parquet from extensions.duckdb.org.
        return self.rustac.DuckdbClient(extension_directory=self.extensions, install_extensions=False)

    def hello(self, request: dict[str, Any]) -> dict[str, Any]:
        from importlib.metadata import version

        started = time.perf_counter()
        self.shared = self.client()
        took = time.perf_counter() - started
        return {
            "python": sys.version.split()[0],
            "lazycogs": version("lazycogs"),
            "rustac": version("rustac"),
            "duckdb_client_s": round(took, 4),
        }

    def _open(self, request: dict[str, Any], client: Any, **extra: Any) -> Any:
        chunks = request.get("chunks")
        return self.lazycogs.open(
            request["path"],
            bbox=tuple(request["bbox"]),
            crs=request["crs"],
            resolution=request["resolution"],
            chunks={"band": 1, **chunks} if chunks else None,
            store=self.store,
            path_from_href=str,
            duckdb_client=client,
            **extra,
        )

    def open(self, request: dict[str, Any]) -> dict[str, Any]:
        new = request.get("client") == "new"
        started = time.perf_counter()
        array = self._open(request, self.client() if new else self.shared)
        took = time.perf_counter() - started
        return {
            "seconds": took,
            "shape": [int(array.sizes["y"]), int(array.sizes["x"])],
            "transform": [float(v) for v in array.attrs["spatial:transform"]][:6],
            "times": int(array.sizes["time"]),
            "bands": [str(b) for b in array.band.values],
        }

    def mean(self, request: dict[str, Any]) -> dict[str, Any]:
        import dask
        import numpy as np

        key = json.dumps({k: v for k, v in request.items() if k not in ("op", "out")}, sort_keys=True)
        if key not in self.kept:
            workaround = request["mode"] == "workaround"
            array = self._open(
                request, self.shared, bands=[request["band"]], **({"nodata": SENTINEL} if workaround else {})
            )
            part = array.sel(band=request["band"]).isel(time=slice(0, request["steps"]))
            self.kept[key] = part.where(part != SENTINEL) if workaround else part
        part = self.kept[key]
        started = time.perf_counter()
        with dask.config.set(scheduler="threads", num_workers=request["threads"]):
            values = np.asarray(part.mean("time").values)
        took = time.perf_counter() - started
        np.save(request["out"], values)
        return {"seconds": took, "shape": list(values.shape), "times": [str(t)[:19] for t in part.time.values]}

    def search(self, request: dict[str, Any]) -> dict[str, Any]:
        started = time.perf_counter()
        items = self.shared.search(
            request["path"], bbox=request.get("bbox"), datetime=request.get("datetime"), limit=request.get("limit")
        )
        took = time.perf_counter() - started
        return {"seconds": took, "ids": [item["id"] for item in items]}


def main() -> None:
    # Answers go to a copy of stdout; stdout itself goes to stderr, so that nothing a library prints (from Python
    # or from Rust) lands in the protocol.
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    worker = Worker()
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        try:
            if request.get("op") not in OPS:
                raise ValueError(f"unknown op {request.get('op')!r}")
            answer = {"ok": True, **getattr(worker, request["op"])(request)}
        except Exception as error:  # the caller reports it; the worker stays up for the next request
            answer = {"ok": False, "error": f"{type(error).__name__}: {error}"}
        answers.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()
