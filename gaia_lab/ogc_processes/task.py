"""What runs on the user's cluster: one task that is the whole process run.

The task executes on one of the user's workers, as the user: it opens the user's federation, reads the data with
the user's rights, puts its graph on the same cluster (``worker_client``), writes the outputs into the user's space
and adds the result to the user's catalogue. It reports progress as scheduler events on the job's topic and stops
when the job's cancel event is set.
"""

from __future__ import annotations

import importlib
import shutil
import time
from pathlib import Path
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

CANCEL_PREFIX = "gaia-lab-cancel-"
PROGRESS_PREFIX = "gaia-lab-progress-"
CANCEL_POLL_SECONDS = 0.5


# What every job imports on its worker, imported when a worker joins rather than in the first job each worker runs
# (about 4 s: the stack, and jsonschema, whose URI format checker compiles dozens of grammars at import).
PRELOAD = ("gaia_lab.processing", "gaia_lab.ogc_processes.user_catalog", "jsonschema")


class Preload(WorkerPlugin):
    """A worker plugin importing PRELOAD on every worker of the cluster, those joining later included."""

    name = "gaia-lab-processing-preload"

    def setup(self, worker: Any) -> None:
        for module in PRELOAD:
            importlib.import_module(module)


def progress_topic(job_id: str) -> str:
    return PROGRESS_PREFIX + job_id


def cancel_event_name(job_id: str) -> str:
    return CANCEL_PREFIX + job_id


class _Cancellation:
    """``cancelled()`` for the run: the job's Dask event, asked at most every CANCEL_POLL_SECONDS."""

    def __init__(self, job_id: str) -> None:
        from distributed import Event

        self.event = Event(cancel_event_name(job_id))
        self.last = 0.0
        self.seen = False

    def __call__(self) -> bool:
        now = time.monotonic()
        if not self.seen and now - self.last >= CANCEL_POLL_SECONDS:
            self.last = now
            self.seen = bool(self.event.is_set())
        return self.seen


def run_job(
    process_id: str,
    inputs: dict[str, Any],
    *,
    job_id: str,
    output_dir: str,
    results_root: str,
    catalog_source: str | None,
    max_output_bytes: int | None,
    max_duration: float | None,
) -> dict[str, Any]:
    """Run the process on this worker's cluster; the outputs (path, media type, key) and the result's STAC item."""
    from distributed import get_worker

    from gaia_lab.ogc_processes.user_catalog import add_result
    from gaia_lab.processing import run
    from gaia_lab.processing.context import Limits, ProcessContext

    worker = get_worker()
    topic = progress_topic(job_id)

    def progress(fraction: float, message: str) -> None:
        worker.log_event(topic, {"fraction": float(fraction), "message": str(message)})

    catalog = None
    if catalog_source:
        from gaia_lab.catalog import open_catalog

        catalog = open_catalog(catalog_source)
    cancellation = _Cancellation(job_id)
    context = ProcessContext(
        output_dir=Path(output_dir),
        catalog=catalog,
        progress=progress,
        cancelled=cancellation,
        limits=Limits(max_output_bytes=max_output_bytes, max_duration=max_duration),
        item_id=job_id,
    )
    result = run(process_id, inputs, context)
    if cancellation.event.is_set():
        # Dismissed while its last chunks were written (after the run's own checks): nothing of it stays.
        from gaia_lab.errors import ProcessCancelled

        shutil.rmtree(output_dir, ignore_errors=True)
        raise ProcessCancelled(process_id, "dismissed while its outputs were written; they were removed")
    item = add_result(Path(results_root), result.item, Path(output_dir))
    return {
        "outputs": [{"name": f.key, "path": str(f.path), "media_type": f.media_type} for f in result.files],
        "item": item,
    }
