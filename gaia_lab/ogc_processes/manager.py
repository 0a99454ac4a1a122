"""pygeoapi's job manager over the job runner: every job is the requesting user's, run on that user's cluster.

pygeoapi calls the manager without saying who asks; the authentication middleware sets the user in a context
variable for the request (:func:`.auth.current_user`), and every method here reads and writes that user's jobs only:
another user's job id is "not found".
"""

from __future__ import annotations

from http import HTTPStatus
from pathlib import Path
from typing import Any

from pygeoapi.process.base import JobNotFoundError, JobResultNotFoundError, ProcessorExecuteError
from pygeoapi.process.manager.base import BaseManager
from pygeoapi.util import JobStatus, RequestedProcessExecutionMode

from gaia_lab.errors import ClusterError, EntryNotFound, GaiaLabError
from gaia_lab.ogc_processes import jobs as jobs_module
from gaia_lab.ogc_processes.auth import current_user
from gaia_lab.ogc_processes.jobs import Job, JobNotFound
from gaia_lab.ogc_processes.runner import JobLimitError, JobRunner
from gaia_lab.ogc_processes.user_catalog import ITEM_NAME

_RUNNER: JobRunner | None = None
_BASE_URL = ""


def install(runner: JobRunner, base_url: str) -> None:
    """Give the manager its runner (pygeoapi instantiates the manager itself, from its config)."""
    global _RUNNER, _BASE_URL
    _RUNNER, _BASE_URL = runner, base_url.rstrip("/")


def runner() -> JobRunner:
    if _RUNNER is None:
        raise RuntimeError("the job runner is not installed (gaia_lab.ogc_processes.manager.install)")
    return _RUNNER


class InputError(ProcessorExecuteError):  # type: ignore[misc]
    http_status_code = HTTPStatus.BAD_REQUEST
    ogc_exception_code = "InvalidParameterValue"


class NotFound(ProcessorExecuteError):  # type: ignore[misc]
    http_status_code = HTTPStatus.NOT_FOUND
    ogc_exception_code = "NotFound"


class TooMany(ProcessorExecuteError):  # type: ignore[misc]
    http_status_code = HTTPStatus.TOO_MANY_REQUESTS
    ogc_exception_code = "LimitExceeded"


class Unavailable(ProcessorExecuteError):  # type: ignore[misc]
    http_status_code = HTTPStatus.SERVICE_UNAVAILABLE
    ogc_exception_code = "ServerBusy"


def file_url(job: Job, name: str) -> str:
    return f"{_BASE_URL}/jobs/{job.id}/files/{name}"


def results_document(job: Job) -> dict[str, Any]:
    """The job's outputs by output id: the STAC item of the result, its assets downloadable from this service (the
    path in the user's space stays as the ``local`` alternate)."""
    item = dict(job.stac_item or {})
    assets = {}
    by_path = {o.path: o for o in job.outputs}
    for key, asset in (item.get("assets") or {}).items():
        asset = dict(asset)
        href = str(asset.get("href", ""))
        output = by_path.get(href) or next((o for o in job.outputs if o.name == key), None)
        if output is not None:
            asset["alternate"] = {"local": {"href": output.path}}
            asset["href"] = file_url(job, output.name)
        assets[key] = asset
    if assets:
        item["assets"] = assets
    # Where the item is in the user's space: a client on the same machine (a session) opens it in place.
    local = {"rel": "via", "href": str(Path(job.output_dir) / ITEM_NAME), "type": "application/geo+json"}
    item["links"] = [*item.get("links", []), local]
    return {"result": item}


def pygeoapi_job(job: Job) -> dict[str, Any]:
    return {
        "type": "process",
        "identifier": job.id,
        "process_id": job.process_id,
        "status": job.status,
        "message": job.message,
        "progress": job.progress,
        "parameters": job.inputs,
        "created": job.created,
        "started": job.started or job.created,
        "finished": job.finished,
        "updated": job.updated,
        "mimetype": "application/json",
        "location": job.output_dir,
    }


class GaiaLabManager(BaseManager):  # type: ignore[misc]
    """Jobs per user, run on the user's Dask Gateway cluster, sync or async."""

    def __init__(self, manager_def: dict[str, Any]) -> None:
        super().__init__(manager_def)
        self.is_async = True
        self.supports_subscribing = False

    def get_jobs(self, status: JobStatus | None = None, limit: int | None = None, offset: int | None = None) -> dict:
        jobs = runner().list(current_user(), status.value if status is not None else None)
        start = offset or 0
        page = jobs[start : start + limit] if limit else jobs[start:]
        return {"jobs": [pygeoapi_job(j) for j in page], "numberMatched": len(jobs)}

    def get_job(self, job_id: str) -> dict[str, Any]:
        try:
            return pygeoapi_job(runner().get(current_user(), job_id))
        except JobNotFound:
            raise JobNotFoundError(job_id) from None

    def add_job(self, job_metadata: dict[str, Any]) -> str:
        raise NotImplementedError("jobs are added by the job runner")

    def update_job(self, job_id: str, update_dict: dict[str, Any]) -> bool:
        raise NotImplementedError("jobs are updated by the job runner")

    def get_job_result(self, job_id: str) -> tuple[str, Any]:
        try:
            job = runner().get(current_user(), job_id)
        except JobNotFound:
            raise JobNotFoundError(job_id) from None
        if job.status != jobs_module.SUCCESSFUL:
            raise JobResultNotFoundError(job_id)
        return "application/json", results_document(job)

    def delete_job(self, job_id: str) -> bool:
        try:
            runner().dismiss(current_user(), job_id)
        except JobNotFound:
            raise JobNotFoundError(job_id) from None
        return True

    def execute_process(
        self,
        process_id: str,
        data_dict: dict[str, Any],
        execution_mode: RequestedProcessExecutionMode | None = None,
        requested_outputs: dict[str, Any] | None = None,
        subscriber: Any = None,
        requested_response: str | None = "raw",
    ) -> tuple[str, str, Any, JobStatus, dict[str, str] | None]:
        wait = execution_mode != RequestedProcessExecutionMode.respond_async
        try:
            job = runner().submit(process_id, dict(data_dict or {}), current_user(), wait=wait)
        except EntryNotFound as exc:
            raise NotFound(user_msg=str(exc)) from None
        except JobLimitError as exc:
            raise TooMany(user_msg=str(exc)) from None
        except ClusterError as exc:
            raise Unavailable(user_msg=str(exc)) from None
        except (GaiaLabError, ValueError) as exc:  # ProcessInputError: the message names the field (JSON pointer)
            raise InputError(user_msg=str(exc)) from None
        if not wait:
            headers = {"Preference-Applied": RequestedProcessExecutionMode.respond_async.value}
            return job.id, "application/json", {"jobID": job.id, "status": job.status}, JobStatus.accepted, headers
        headers = {"Preference-Applied": RequestedProcessExecutionMode.wait.value}
        if job.status != jobs_module.SUCCESSFUL:
            failure = {"type": job.error_type or "JobFailed", "code": "JobFailed", "description": job.message}
            return job.id, "application/json", failure, JobStatus.failed, headers
        return job.id, "application/json", results_document(job), JobStatus.successful, headers
