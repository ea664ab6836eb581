"""The records a job book hands out: uploads, jobs, a submit's admission, the counters.

Both job books, the embedded SQLite store (``store``) and the scale-out Redis book
(``scaleout.book``), speak in these, so the service and the views above them work on either.
"""

from __future__ import annotations

from dataclasses import dataclass

from dropscribe.core.transcript import Transcript
from dropscribe.server.job_status import JobStatus


@dataclass(frozen=True)
class UploadRecord:
    """A completed upload: its id, extension, size in bytes and Unix time of arrival, and
    the ETag the bucket gave it (scale-out; empty for the embedded server's own uploads)."""

    upload_id: str
    extension: str
    size: int
    created_at: float
    etag: str = ""


@dataclass(frozen=True)
class Progress:
    """How far a running job is: seconds of its recording transcribed, and in all (None
    where the container does not say)."""

    done_seconds: float
    total_seconds: float | None


@dataclass(frozen=True)
class JobRecord:
    """One async request as stored; ``params`` is the JSON of the validated input options."""

    job_id: str
    route: str
    model: str
    upload_id: str
    params: str
    status: JobStatus
    accepted_at: float
    started_at: float | None
    completed_at: float | None
    result: Transcript | None
    error: str | None
    progress: Progress | None = None


@dataclass(frozen=True)
class Admission:
    """A submit's outcome: the job, whether it is new, whether the key's request matched."""

    job: JobRecord
    created: bool
    same_request: bool = True


@dataclass(frozen=True)
class Counters:
    """Lifetime totals: jobs created, engine runs started, and jobs waiting right now."""

    submissions: int
    engine_runs: int
    queued: int
