"""Running a lazy result on Dask: size limit before anything is computed, progress as chunks complete,
cancellation and the duration limit honoured while the work advances (the Dask work is cancelled, not orphaned)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import dask.base
import xarray as xr
from dask.callbacks import Callback

from gaia_lab.errors import ProcessCancelled, ProcessLimitError
from gaia_lab.processing.context import ProcessContext

POLL_SECONDS = 0.1


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError  # unreachable


def check_output_size(process: str, estimate: float, context: ProcessContext) -> None:
    """Refuse before any computation when the result would exceed ``max_output_bytes``."""
    limit = context.limits.max_output_bytes
    if limit is not None and estimate > limit:
        raise ProcessLimitError(
            process,
            "max_output_bytes",
            limit,
            f"the result would hold about {_size(estimate)} (limit {_size(limit)}); "
            "narrow the bbox, datetime or variables, or coarsen the resolution",
        )


def nbytes(ds: xr.Dataset | xr.DataArray) -> int:
    """Bytes of a lazy cube's data and coordinates (uncompressed), from metadata only."""
    if isinstance(ds, xr.DataArray):
        return int(ds.nbytes) + sum(int(c.nbytes) for c in ds.coords.values())
    return int(ds.nbytes)


def check_running(process: str, context: ProcessContext) -> None:
    """Raise if the run was cancelled or ran out of time."""
    if context.cancelled():
        raise ProcessCancelled(process, "cancelled; its Dask work was cancelled and its outputs removed")
    limit = context.limits.max_duration
    if limit is not None and time.monotonic() - context.started > limit:
        elapsed = time.monotonic() - context.started
        raise ProcessLimitError(
            process, "max_duration", limit, f"the run took {elapsed:.1f} s; its Dask work was cancelled"
        )


@contextlib.contextmanager
def client_for(context: ProcessContext) -> Iterator[Any]:
    """The context's client; inside a task on a Dask worker, a client for the same cluster; else None (local)."""
    if context.client is not None:
        yield context.client
        return
    try:
        from distributed import get_worker, worker_client

        get_worker()
    except (ImportError, ValueError):
        yield None
        return
    with worker_client() as client:
        yield client


class _LocalProgress(Callback):
    """Progress and cancellation on Dask's local schedulers: raising in a callback stops the computation."""

    def __init__(self, process: str, context: ProcessContext, span: tuple[float, float], label: str) -> None:
        super().__init__()
        self.process, self.context, self.span, self.label = process, context, span, label
        self.total = 1
        self.done = 0
        self.last = 0.0

    def _start_state(self, dsk: Any, state: Any) -> None:
        self.total = max(1, len(state["ready"]) + len(state["waiting"]) + len(state["running"]))

    def _pretask(self, key: Any, dsk: Any, state: Any) -> None:
        check_running(self.process, self.context)

    def _posttask(self, key: Any, result: Any, dsk: Any, state: Any, worker_id: Any) -> None:
        self.done += 1
        now = time.monotonic()
        if now - self.last >= POLL_SECONDS or self.done == self.total:
            self.last = now
            _report(self.context, self.span, self.done, self.total, self.label)
        check_running(self.process, self.context)


def _report(context: ProcessContext, span: tuple[float, float], done: int, total: int, label: str) -> None:
    low, high = span
    context.progress(low + (high - low) * done / max(total, 1), f"{label}: {done}/{total} tasks")


def compute(
    process: str,
    obj: Any,
    context: ProcessContext,
    *,
    span: tuple[float, float] = (0.05, 0.9),
    label: str = "computing",
) -> Any:
    """``obj`` (an xarray object, or anything dask can compute) with its values in memory.

    On a cluster the graph's output chunks are persisted and watched as they complete (progress is the fraction of
    output chunks done); cancellation or the duration limit cancels them. Locally, scheduler callbacks do the same.
    """
    check_running(process, context)
    with client_for(context) as client:
        if client is None:
            with _LocalProgress(process, context, span, label):
                (result,) = dask.base.compute(obj, scheduler="threads")
            return result
        from distributed import futures_of

        persisted = client.persist(obj)
        futures = futures_of(persisted)
        try:
            total = len(futures)
            last_done = -1
            while True:
                done = sum(1 for future in futures if future.done())
                if done != last_done:
                    _report(context, span, done, total, label)
                    last_done = done
                failed = next((future for future in futures if future.status == "error"), None)
                if failed is not None:
                    failed.result()  # raises the task's error
                if done == total:
                    break
                check_running(process, context)
                time.sleep(POLL_SECONDS)
            result = client.compute(persisted, sync=True)  # gathers the persisted chunks
            return result
        except BaseException:
            client.cancel(futures)
            raise
