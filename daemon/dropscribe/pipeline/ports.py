"""What the pipeline needs from the parts around it, as small protocols it owns, so that unit
tests hand it fakes: the service, the job store, the outbox, custody of the recording, the
audit logger and the scheduler."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from dropscribe.api_client import PollResult, Submission
from dropscribe.core.jobs import Job
from dropscribe.core.transcript import RemoteTranscript

TRANSFER = "transfer"  # the scheduler's pool for hashing, uploads and submissions
POLL = "poll"  # the scheduler's pool for polls and publishing


class Remote(Protocol):
    """The service, one method per remote call (dropscribe.api_client.ApiClient)."""

    def get_upload_url(self, extension: str) -> str: ...
    def upload(self, url: str, path: Path) -> None: ...
    def submit(
        self, upload_url: str, params: Mapping[str, Any], idempotency_key: str
    ) -> Submission: ...
    def poll(self, poll_url: str) -> PollResult: ...


class Transcriber(Protocol):
    """A service answering in one request (OpenAI's API): the recording in, the transcript
    out; no job to poll and no idempotency key (dropscribe.app.openai_backend)."""

    model: str

    def transcribe(self, recording: Path, params: Mapping[str, Any]) -> RemoteTranscript: ...


class Store(Protocol):
    """The durable job store (dropscribe.state.StateStore)."""

    def save(self, job: Job, result: RemoteTranscript | None = None) -> Job: ...
    def get(self, job_id: str) -> Job | None: ...
    def result(self, job_id: str) -> RemoteTranscript | None: ...
    def unfinished(self) -> list[Job]: ...
    def find_reusable(self, sha256: str, fingerprint: str) -> Job | None: ...
    def first_in_flight(self, sha256: str, fingerprint: str) -> Job | None: ...
    def waiting_twins(self, sha256: str, fingerprint: str) -> list[Job]: ...
    def by_request_id(self, request_id: str) -> Job | None: ...


class Publisher(Protocol):
    """The outbox (dropscribe.outbox.Outbox)."""

    def publish(
        self, rel: str, job_id: str, result: RemoteTranscript, provenance: Mapping[str, Any]
    ) -> list[Path]: ...


class Labeller(Protocol):
    """Speaker labels for a finished result (dropscribe.speakers); never raises: a failure
    comes back as the result unlabelled, with the reason in ``diarization.error``."""

    method: str

    def label(self, result: RemoteTranscript, recording: Path) -> RemoteTranscript: ...


class Custodian(Protocol):
    """Moves of the recording itself (dropscribe.intake.custody.Custody)."""

    def processing_path(self, rel: str) -> Path: ...
    def complete(self, rel: str, *, delete: bool = False) -> Path | None: ...
    def fail(self, rel: str, report: Mapping[str, Any], *, from_inbox: bool = False) -> Path: ...
    def restore(self, failed_rel: str, *, as_rel: str | None = None) -> Path: ...


class Audit(Protocol):
    """A structlog logger."""

    def info(self, event: str, **kw: Any) -> Any: ...
    def warning(self, event: str, **kw: Any) -> Any: ...
    def error(self, event: str, **kw: Any) -> Any: ...


class Schedule(Protocol):
    """The scheduler, as the pipeline uses it (dropscribe.scheduler.Scheduler)."""

    def schedule(self, job_id: str, pool: str, delay: float = 0.0) -> None: ...
    def knows(self, job_id: str) -> bool: ...
    def hold(self, seconds: float) -> None: ...
