"""The job engine: a process id + inputs + user in, a job out, run on that user's Dask Gateway cluster.

Any API face calls the same three methods (the OGC API - Processes manager does; openEO may)::

    runner = JobRunner(store, pool, settings)
    job = runner.submit("aggregate", {"entry": "odatis/ostia-sst", ...}, user="alice")   # async: returns at once
    job = runner.submit(..., wait=True)                                                   # sync: returns when done
    runner.get("alice", job.id); runner.dismiss("alice", job.id); runner.list("alice")

``submit`` validates the inputs first (ProcessInputError naming the field, EntryNotFound naming the id, before any
cluster starts), then a thread asks the pool for the user's cluster, submits :func:`.task.run_job` to it and follows
the job's progress events until the task ends, fails, runs out of time, loses its cluster or is dismissed.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import threading
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gaia_lab.errors import ClusterError, GaiaLabError
from gaia_lab.ogc_processes import jobs as jobs_module
from gaia_lab.ogc_processes.clusters import ClusterPool
from gaia_lab.ogc_processes.jobs import Job, JobStore, Output, new_job_id, now
from gaia_lab.ogc_processes.task import cancel_event_name, progress_topic, run_job
from gaia_lab.ogc_processes.user_catalog import remove_result

LOG = logging.getLogger(__name__)


class JobLimitError(GaiaLabError):
    """A job went beyond a limit of the service (``limit`` names it)."""

    def __init__(self, limit: str, message: str) -> None:
        super().__init__(f"{limit}: {message}")
        self.limit = limit


@dataclass(frozen=True)
class RunnerSettings:
    """Where results go and the limits of one job."""

    #: The user's results directory (their catalogue's root) from their hub name.
    results_dir: Callable[[str], Path]
    #: The federation the jobs resolve entries in (the sessions' one); None: the workers' default.
    catalog_source: str | None = None
    max_duration: float = 600.0
    max_output_bytes: int = 2 * 2**30
    max_active_jobs_per_user: int = 4
    #: Create the user's results directory before the job (where the workers mount it rather than make it).
    prepare_results_dirs: bool = False


class JobRunner:
    def __init__(self, store: JobStore, pool: ClusterPool, settings: RunnerSettings) -> None:
        self.store = store
        self.pool = pool
        self.settings = settings
        self._futures: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._catalog: Any = None

    # -- validation -------------------------------------------------------------------------------------------
    def catalog(self) -> Any:
        """The federation, opened once: entry ids are checked before a job is accepted (metadata only)."""
        if self._catalog is None:
            from gaia_lab.catalog import open_catalog

            self._catalog = open_catalog(self.settings.catalog_source) if self.settings.catalog_source else None
        return self._catalog

    def validate(self, process_id: str, inputs: dict[str, Any]) -> dict[str, Any]:
        """Inputs checked (ProcessNotFound, ProcessInputError with a JSON pointer, EntryNotFound with the id)."""
        from gaia_lab.processing import validate_inputs

        return dict(validate_inputs(process_id, inputs, catalog=self.catalog()))

    # -- jobs -------------------------------------------------------------------------------------------------
    def submit(self, process_id: str, inputs: dict[str, Any], user: str, *, wait: bool = False) -> Job:
        """A new job of ``user`` (accepted, or finished when ``wait``); invalid inputs raise before it exists."""
        self.validate(process_id, inputs)
        active = [j for j in self.store.list(user) if not j.final]
        if len(active) >= self.settings.max_active_jobs_per_user:
            raise JobLimitError(
                "max_active_jobs_per_user",
                f"user {user!r} already has {len(active)} jobs running (limit "
                f"{self.settings.max_active_jobs_per_user}); wait for one to finish or dismiss one",
            )
        job_id = new_job_id()
        output_dir = self.settings.results_dir(user) / job_id
        if self.settings.prepare_results_dirs:
            self.settings.results_dir(user).mkdir(parents=True, exist_ok=True, mode=0o700)
        job = self.store.add(
            Job(id=job_id, user=user, process_id=process_id, inputs=inputs, output_dir=str(output_dir))
        )
        thread = threading.Thread(target=self._run, args=(job,), name=f"job-{job_id}", daemon=True)
        thread.start()
        if wait:
            thread.join()
            return self.store.get(user, job_id)
        return job

    def get(self, user: str, job_id: str) -> Job:
        return self.store.get(user, job_id)

    def list(self, user: str, status: str | None = None) -> list[Job]:
        return self.store.list(user, status)

    def dismiss(self, user: str, job_id: str) -> Job:
        """Cancel a running job's Dask work (or delete a finished job's outputs); the job becomes ``dismissed``."""
        job = self.store.get(user, job_id)  # JobNotFound for anyone else
        if not job.final:
            self.store.update(job_id, status=jobs_module.DISMISSED, message="dismissed by the user", finished=now())
            self._cancel(job)
        else:
            self.store.update(job_id, status=jobs_module.DISMISSED, message="dismissed by the user")
        self._remove_outputs(job)
        return self.store.get(user, job_id)

    def _cancel(self, job: Job) -> None:
        with self._lock:
            future = self._futures.get(job.id)
        if future is None:
            return
        with contextlib.suppress(Exception):
            from distributed import Event

            Event(cancel_event_name(job.id), client=future.client).set()
        with contextlib.suppress(Exception):
            future.cancel()

    def _remove_outputs(self, job: Job) -> None:
        """Outputs of a dismissed job go (the task, as the user, owns them; the service runs with more rights)."""
        with contextlib.suppress(Exception):
            remove_result(self.settings.results_dir(job.user), job.id)
        if job.output_dir:
            shutil.rmtree(job.output_dir, ignore_errors=True)

    # -- the job's thread -------------------------------------------------------------------------------------
    def _progress_handler(self, job_id: str) -> Callable[[Any], None]:
        def handle(event: Any) -> None:
            message = event[1] if isinstance(event, tuple) and len(event) == 2 else event
            if not isinstance(message, dict):
                return
            fraction = max(0.0, min(1.0, float(message.get("fraction", 0.0))))
            self.store.update(job_id, progress=round(fraction * 100), message=str(message.get("message", "")))

        return handle

    def _run(self, job: Job) -> None:
        user, job_id = job.user, job.id
        topic = progress_topic(job_id)
        client = None
        try:
            self.store.update(job_id, message="starting the user's Dask cluster", started=now())
            current = self.pool.acquire(user, job_id)
            client = current.client
            if self.store.get(user, job_id).final:  # dismissed while the cluster started
                return
            client.subscribe_topic(topic, self._progress_handler(job_id))
            future = client.submit(
                run_job,
                job.process_id,
                job.inputs,
                job_id=job_id,
                output_dir=job.output_dir,
                results_root=str(self.settings.results_dir(user)),
                catalog_source=self.settings.catalog_source,
                max_output_bytes=self.settings.max_output_bytes,
                max_duration=self.settings.max_duration,
                key=f"gaia-lab-job-{job_id}",
                pure=False,
                retries=0,
            )
            with self._lock:
                self._futures[job_id] = future
            self.store.update(job_id, status=jobs_module.RUNNING, message=f"running on cluster {current.name}")
            # A margin over the task's own duration limit: the task stops itself, this catches a stuck cluster.
            result = future.result(timeout=self.settings.max_duration + 60)
            outputs = [Output(**o) for o in result["outputs"]]
            self.store.update(
                job_id,
                status=jobs_module.SUCCESSFUL,
                progress=100,
                message="done",
                outputs=outputs,
                stac_item=result["item"],
                finished=now(),
            )
        except BaseException as exc:
            self._failed(job, exc)
        finally:
            if client is not None:
                with contextlib.suppress(Exception):
                    client.unsubscribe_topic(topic)
            with self._lock:
                self._futures.pop(job_id, None)
            self.pool.release(user, job_id)

    def _failed(self, job: Job, exc: BaseException) -> None:
        from distributed.client import FutureCancelledError

        current = self.store.get(job.user, job.id)
        if current.status == jobs_module.DISMISSED:
            # Dismissed: with nothing else of the user's running, stop the cluster too, so no work goes on.
            if not self.pool.jobs_on(job.user) - {job.id}:
                self.pool.shutdown_user(job.user, f"job {job.id} dismissed")
            # Again, now the task has stopped: it may have written after the dismissal removed its outputs.
            self._remove_outputs(job)
            return
        if isinstance(exc, ClusterError):  # the user's cluster could not start (limits, gateway down)
            lost_cluster, reason = False, str(exc)
        elif isinstance(exc, FutureTimeout | TimeoutError):
            lost_cluster = True
            reason = (
                f"max_duration: the job ran over {self.settings.max_duration:g} s and its cluster did not stop "
                "it; the cluster was shut down"
            )
        elif isinstance(exc, FutureCancelledError | OSError) or not self.pool.alive(job.user):
            lost_cluster = True
            reason = f"the job's Dask cluster stopped or was lost ({type(exc).__name__}: {exc}); it was shut down"
        else:  # the process itself failed (a limit, bad data): the message says which
            lost_cluster, reason = False, f"{type(exc).__name__}: {exc}"
        LOG.info("job %s failed: %s", job.id, reason)
        self.store.update(
            job.id,
            status=jobs_module.FAILED,
            message=reason,
            error=reason,
            error_type=type(exc).__name__,
            finished=now(),
        )
        if lost_cluster:
            self.pool.shutdown_user(job.user, f"job {job.id}: {reason}")  # no orphan cluster

    def close(self) -> None:
        self.pool.close()
