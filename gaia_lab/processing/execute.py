"""Running a lazy result on Dask: size limit before anything is computed, progress as chunks complete,
cancellation and the duration limit honoured while the work advances (the Dask work is cancelled, not orphaned)."""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dask.base
import xarray as xr
from dask.callbacks import Callback

from gaia_lab.errors import ProcessCancelled, ProcessLimitError
from gaia_lab.processing.context import OutputFile, ProcessContext

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


def _report(
    context: ProcessContext, span: tuple[float, float], done: int, total: int, label: str, unit: str = "tasks"
) -> None:
    low, high = span
    context.progress(low + (high - low) * done / max(total, 1), f"{label}: {done}/{total} {unit}")


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
            _follow(process, futures, context, span, label)
            result = client.compute(persisted, sync=True)  # gathers the persisted chunks
            return result
        except BaseException:
            client.cancel(futures)
            raise


def _regular_chunks(ds: xr.Dataset) -> xr.Dataset:
    """Zarr chunks are all equal but the last along each dimension: a selection's dask chunks (a partial first
    chunk after a bbox, a ragged time axis) become the largest chunk of each dimension."""
    ragged = {
        dim: max(sizes)
        for dim, sizes in ds.chunks.items()
        if len(sizes) > 1 and (len(set(sizes[:-1])) > 1 or sizes[-1] > sizes[0])
    }
    return ds.chunk(ragged) if ragged else ds


def store_zarr(
    process: str,
    lazy: xr.Dataset,
    path: Path,
    context: ProcessContext,
    *,
    span: tuple[float, float] = (0.05, 0.95),
    label: str = "computing",
) -> OutputFile:
    """Compute ``lazy`` and write it as a consolidated Zarr v3 store, each chunk written where it was computed.

    On a cluster the workers write their own chunks (nothing is gathered into the run's task: a result larger
    than one worker's memory still writes, and no copy crosses the network); progress is the fraction of chunk
    writes done, and cancellation or the duration limit cancels them and removes the partial store.
    """
    from gaia_lab.processing.outputs import ZARR_FORMAT, ZARR_MEDIA_TYPE, clean_encoding

    check_running(process, context)
    ds = _regular_chunks(clean_encoding(lazy))
    for name, variable in ds.variables.items():
        # xarray encodes a chunked datetime variable only with both units and dtype prescribed, or neither; these
        # (reference times, time bounds) are small: in memory they keep the source's units and calendar.
        if variable.chunks is not None and (variable.dtype.kind in "mM" or variable.dtype == object):
            ds[name] = variable.load()
    tmp = path.with_name(path.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        with warnings.catch_warnings():
            # Consolidated metadata is not part of the Zarr v3 spec; zarr-python warns, and readers still use it.
            warnings.filterwarnings("ignore", message=".*[Cc]onsolidated metadata.*")
            write = ds.to_zarr(tmp, mode="w", zarr_format=ZARR_FORMAT, consolidated=True, compute=False)
            with client_for(context) as client:
                if client is None:
                    with _LocalProgress(process, context, span, label):
                        dask.base.compute(write, scheduler="threads")
                else:
                    _run_writes(process, write, ds, tmp, client, context, span, label)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    shutil.rmtree(path, ignore_errors=True)
    os.replace(tmp, path)
    return OutputFile(path, ZARR_MEDIA_TYPE, "zarr")


def _chunk_files(store: Path, variables: list[str]) -> int:
    """Chunk files written so far for ``variables`` of a Zarr v3 store (``<variable>/c/...``)."""
    return sum(len(files) for name in variables for _, _, files in os.walk(store / name / "c"))


def _run_writes(
    process: str,
    write: Any,
    ds: xr.Dataset,
    store: Path,
    client: Any,
    context: ProcessContext,
    span: tuple[float, float],
    label: str,
) -> None:
    """The write graph on the cluster, followed by the chunk files appearing in the store: the graph's keys are
    dask's business (their names and aliases change between versions), the files are what a run promises. Chunks
    all fill value are not written (zarr's default), so the count may stop short of the total: the end is the
    graph's."""
    chunks = {str(n): v.chunks for n, v in ds.data_vars.items() if v.chunks is not None}
    total = max(1, sum(math.prod([len(c) for c in per_dim]) for per_dim in chunks.values()))
    future = client.compute(write)
    keys = set(dict(write.__dask_graph__()))
    try:
        last_done = -1
        while not future.done():
            done = min(_chunk_files(store, list(chunks)), total)
            if done != last_done:
                _report(context, span, done, total, label, "chunks")
                last_done = done
            check_running(process, context)
            time.sleep(POLL_SECONDS)
        future.result()  # raises the first task error
        _report(context, span, total, total, label, "chunks")
    except BaseException:
        client.cancel([future])
        _wait_not_running(client, keys)
        raise


def _busy_keys(dask_worker: Any) -> list[Any]:
    """Keys whose code runs in a worker's threads, cancelled ones included: the scheduler forgets a cancelled task at
    once, while its thread (which Python cannot stop) goes on to the end of its chunk write."""
    return [key for key, task in dask_worker.state.tasks.items() if task.state in _BUSY_STATES]


_BUSY_STATES = frozenset({"executing", "long-running", "cancelled", "resumed"})


def _wait_not_running(client: Any, keys: set[Any], timeout: float = 60.0) -> None:
    """Until none of ``keys`` runs on a worker any more, as the workers themselves see it: a cancelled task already
    running finishes its chunk, and the partial store is removed only after that last write."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            busy = {key for keys_of in client.run(_busy_keys).values() for key in keys_of}
        except Exception:  # the cluster is gone: nothing runs any more
            return
        if not busy & keys:
            return
        time.sleep(POLL_SECONDS)


def _follow(process: str, futures: list[Any], context: ProcessContext, span: tuple[float, float], label: str) -> None:
    """Report progress as ``futures`` complete; raise the first task error, a cancellation or the duration limit."""
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
            return
        check_running(process, context)
        time.sleep(POLL_SECONDS)
