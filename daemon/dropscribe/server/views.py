"""JSON shapes of the protocol's responses, as pure functions of stored records."""

from __future__ import annotations

from typing import Any

from dropscribe.server.job_status import JobStatus, iso_utc
from dropscribe.server.records import JobRecord

#: Path of a job's poll URL, below the server's base URL.
POLL_PATH = "/v1/async/requests/{job_id}"


def poll_url(base_url: str, job_id: str) -> str:
    """Return the absolute poll URL of a job."""
    return base_url + POLL_PATH.format(job_id=job_id)


def job_view(job: JobRecord) -> dict[str, Any]:
    """Return the poll response: id, model, status, the three timestamps, result (and error);
    a running job's progress (an extension of the protocol) once its first piece is done."""
    view: dict[str, Any] = {
        "id": job.job_id,
        "model": job.model,
        "status": job.status.value,
        "acceptedAt": iso_utc(job.accepted_at),
        "startedAt": iso_utc(job.started_at),
        "completedAt": iso_utc(job.completed_at),
        "result": job.result if job.status is JobStatus.SUCCESS else None,
    }
    if job.error is not None:
        view["error"] = job.error
    if job.progress is not None and not job.status.is_terminal:
        view["progress"] = {
            "audioSecondsDone": job.progress.done_seconds,
            "audioSecondsTotal": job.progress.total_seconds,
        }
    return view


def submit_view(job: JobRecord, base_url: str) -> dict[str, Any]:
    """Return the submit response: the job view plus its poll URL, wrapped in ``response``."""
    view = job_view(job)
    view["urls"] = {"GET": poll_url(base_url, job.job_id)}
    return {"response": view}


def upload_url_view(url: str) -> dict[str, Any]:
    """Return the upload-url response carrying the presigned PUT URL."""
    return {"uploadUrl": {"PUT": url}}
