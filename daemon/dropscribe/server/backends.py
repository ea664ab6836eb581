"""What ApiService stands on: a job book, a dispatch and an upload site, as Protocols.

Two sets implement them. The embedded default keeps jobs in SQLite (store.JobStore), runs them
in this process's engine pool (workers.EnginePool) and takes uploads itself (uploads.LocalUploads).
The scale-out set keeps jobs in Redis, sends them to engine workers through a task queue and has
uploads go straight to an S3 bucket (``distributed``). The routes see neither: they call
ApiService, which calls these.
"""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO, Protocol

from dropscribe.server.pool import PoolHealth
from dropscribe.server.records import Admission, Counters, JobRecord, UploadRecord


class JobBook(Protocol):
    """Where jobs, idempotency keys and counters are kept."""

    def admit(
        self, job: JobRecord, key: str | None, fingerprint: str, upload: UploadRecord | None = None
    ) -> Admission:
        """Insert a new accepted job, or return the job an earlier use of ``key`` created;
        ``upload`` is the upload it names, as resolved at submit."""
        ...

    def get(self, job_id: str) -> JobRecord | None:
        """Return the job with this id, or None if there is none."""
        ...

    def cancel(self, job_id: str, now: float) -> bool:
        """Cancel a job that has not finished; return False if it had already ended."""
        ...

    def counters(self) -> Counters:
        """Return the lifetime counters and the number of jobs waiting for a worker."""
        ...


class Dispatch(Protocol):
    """What hands accepted jobs to engine workers."""

    def enqueue(self, job_id: str) -> None:
        """Queue an accepted job for a worker that serves its model."""
        ...

    def cancel(self, job_id: str) -> None:
        """Ask the worker running this job to abandon it (the book already says cancelled)."""
        ...

    def health(self) -> PoolHealth:
        """Return the state of the engine workers this process runs."""
        ...


class UploadSite(Protocol):
    """Where recordings are uploaded to, and how a submitted upload URL is resolved."""

    def issue(self, extension: str, base_url: str) -> str:
        """Return a presigned PUT URL for a new upload with this (checked) extension."""
        ...

    def target(self, name: str, expires: str | None, signature: str | None) -> Path:
        """Return where a PUT to this server stores its body. Raise ApiProblem if refused."""
        ...

    def check_replaceable(self, target: Path) -> None:
        """Raise ApiProblem 409 if the upload stored at ``target`` was already submitted."""
        ...

    def record(self, target: Path, size: int) -> None:
        """Remember that the upload stored at ``target`` is complete."""
        ...

    def store(self, extension: str, source: BinaryIO, base_url: str) -> str:
        """Keep a recording this server received itself (OpenAI's transcription endpoint) as
        a completed upload, and return the upload URL that names it to ``submit``."""
        ...

    def resolve(self, url: str) -> UploadRecord:
        """Return the completed upload a submitted URL names. Raise ApiProblem 400 if none."""
        ...
