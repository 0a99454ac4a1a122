"""Job records, stored per user: one JSON file per job under ``<root>/<user key>/``, kept in memory too.

Every read names the user asking: a job of someone else is reported as not found (never "forbidden", which would
tell that the id exists).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gaia_lab.errors import GaiaLabError

ACCEPTED, RUNNING, SUCCESSFUL, FAILED, DISMISSED = "accepted", "running", "successful", "failed", "dismissed"
FINAL = frozenset({SUCCESSFUL, FAILED, DISMISSED})


class JobNotFound(GaiaLabError, KeyError):
    """No job with this id for this user."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id!r} not found (jobs are visible to the user who submitted them only)")
        self.job_id = job_id

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Output:
    """One file (or Zarr store) a job wrote: its name in the result, path, media type."""

    name: str
    path: str
    media_type: str


@dataclass
class Job:
    id: str
    user: str
    process_id: str
    inputs: dict[str, Any]
    status: str = ACCEPTED
    message: str = "accepted"
    progress: int = 0
    created: str = field(default_factory=now)
    started: str | None = None
    finished: str | None = None
    updated: str = field(default_factory=now)
    output_dir: str = ""
    outputs: list[Output] = field(default_factory=list)
    stac_item: dict[str, Any] | None = None
    error: str | None = None
    error_type: str | None = None

    @property
    def final(self) -> bool:
        return self.status in FINAL

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        values = dict(data)
        values["outputs"] = [Output(**o) for o in values.get("outputs", [])]
        return cls(**values)


def new_job_id() -> str:
    return str(uuid.uuid4())


def user_key(user: str) -> str:
    """A directory name for a hub user name (which may hold any character)."""
    return hashlib.sha256(user.encode()).hexdigest()[:24]


class JobStore:
    """Jobs by user, persisted under ``root`` (mode 0700: inputs may name private entries)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock = threading.RLock()
        self._jobs: dict[str, Job] = {}
        self._load()

    def _load(self) -> None:
        for path in self.root.glob("*/*.json"):
            with contextlib.suppress(OSError, ValueError, TypeError):
                job = Job.from_dict(json.loads(path.read_text()))
                if not job.final:  # the server stopped while it ran: its cluster went with it
                    job.status, job.message = FAILED, "the processes service restarted while the job ran"
                    job.error, job.finished = job.message, now()
                self._jobs[job.id] = job

    def _path(self, job: Job) -> Path:
        return self.root / user_key(job.user) / f"{job.id}.json"

    def _write(self, job: Job) -> None:
        path = self._path(job)
        path.parent.mkdir(exist_ok=True, mode=0o700)
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(job.as_dict()))
        temporary.replace(path)

    def add(self, job: Job) -> Job:
        with self._lock:
            self._jobs[job.id] = job
            self._write(job)
        return job

    def get(self, user: str, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.user != user:
                raise JobNotFound(job_id)
            return Job.from_dict(job.as_dict())  # a copy: callers never change the stored record

    def update(self, job_id: str, **changes: Any) -> Job:
        """Change a job; a finished job keeps its final state (a late progress report cannot revive it)."""
        with self._lock:
            job = self._jobs[job_id]
            if job.final and "status" not in changes:
                return job
            if job.final and changes.get("status") not in (None, job.status):
                return job
            for key, value in changes.items():
                setattr(job, key, value)
            job.updated = now()
            self._write(job)
            return Job.from_dict(job.as_dict())

    def list(self, user: str, status: str | None = None) -> list[Job]:
        with self._lock:
            jobs = [j for j in self._jobs.values() if j.user == user and (status is None or j.status == status)]
        return sorted((Job.from_dict(j.as_dict()) for j in jobs), key=lambda j: j.created, reverse=True)

    def remove(self, user: str, job_id: str) -> Job:
        with self._lock:
            job = self.get(user, job_id)
            del self._jobs[job_id]
            self._path(job).unlink(missing_ok=True)
            return job
