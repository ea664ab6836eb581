"""What each endpoint does, free of HTTP: the routes module only adapts requests to these calls.

Every refusal is an ApiProblem carrying its status and a message for a person.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import math
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import anyio.to_thread
from pydantic import BaseModel, ConfigDict, Field

from dropscribe.engine.params import WhisperInput
from dropscribe.server.backends import Dispatch, JobBook, UploadSite
from dropscribe.server.job_status import JobStatus
from dropscribe.server.meter import EngineMeter
from dropscribe.server.problems import ApiProblem
from dropscribe.server.records import JobRecord
from dropscribe.server.uploads import ALLOWED_EXTENSIONS
from dropscribe.server.waiting import JobWaits

#: Longest Idempotency-Key accepted, in characters.
MAX_IDEMPOTENCY_KEY_LENGTH = 255

#: Prefix of every metric name on /metrics.
METRIC_PREFIX = "dropscribe_serve_"


class SubmitRequest(BaseModel):
    """The body of a submit: decoding options and the upload URL the audio was PUT to."""

    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=False)

    input: WhisperInput = Field(default_factory=WhisperInput)
    URL: str


@dataclass(frozen=True)
class Submitted:
    """A submit's outcome: the job, and whether this request created it."""

    job: JobRecord
    created: bool


class ApiService:
    """The embedded server's behaviour, one method per endpoint."""

    def __init__(
        self,
        store: JobBook,
        pool: Dispatch,
        uploads: UploadSite,
        labels: Mapping[str, str],
        default_label: str,
        clock: Callable[[], float],
        recheck_seconds: float = math.inf,
        meter: EngineMeter | None = None,
    ) -> None:
        """``recheck_seconds`` is how often a long poll reads its job again, for jobs that run
        in other processes (scale-out); in-process jobs announce their end, so never.
        ``meter`` adds the engine's busy time, real-time factors and queue depth to /metrics."""
        self._meter = meter
        self._store = store
        self._pool = pool
        self._uploads = uploads
        self._labels = dict(labels)
        self._default_label = default_label
        self._clock = clock
        self._recheck_seconds = recheck_seconds
        # Long polls wait here, in the event loop: a waiting poll holds no thread.
        self._waits = JobWaits()

    @property
    def routes(self) -> tuple[str, ...]:
        """Return the model names this server accepts in submit paths."""
        return tuple(self._labels)

    def issue_upload_url(self, extension: str | None, base_url: str) -> str:
        """Return a presigned PUT URL for a new upload. Raise 400 for a missing/odd extension."""
        allowed = ", ".join(ALLOWED_EXTENSIONS)
        if not extension:
            raise ApiProblem(400, f"the extension query parameter is missing; use one of {allowed}")
        ext = extension.lower().lstrip(".")
        if ext not in ALLOWED_EXTENSIONS:
            raise ApiProblem(400, f"extension {extension!r} is not supported; use one of {allowed}")
        return self._uploads.issue(ext, base_url)

    def upload_target(self, name: str, expires: str | None, signature: str | None) -> Path:
        """Return where a presigned PUT stores its body. Raise 403 unless the URL is valid now."""
        return self._uploads.target(name, expires, signature)

    def check_replaceable(self, target: Path) -> None:
        """Raise 409 if the upload stored at ``target`` was submitted: a job may be reading it.

        Checked when a PUT starts and again just before its body replaces the file.
        """
        self._uploads.check_replaceable(target)

    def record_upload(self, target: Path, size: int) -> None:
        """Remember that the upload stored at ``target`` is complete."""
        self._uploads.record(target, size)

    def store_recording(self, extension: str, source: BinaryIO, base_url: str) -> str:
        """Keep a recording received in a request as a completed upload; return the upload
        URL that names it to ``submit`` (OpenAI's transcription endpoint)."""
        return self._uploads.store(extension, source, base_url)

    def route_for(self, model: str) -> str:
        """Return the model path an OpenAI ``model`` field names: a path itself, or the first
        path serving a model of that name; any other name (``whisper-1``) gets the default."""
        if model in self._labels:
            return model
        for name in (model, self._default_label):
            for route, label in self._labels.items():
                if label == name:
                    return route
        return next(iter(self._labels))

    def submit(self, route: str, request: SubmitRequest, key: str | None) -> Submitted:
        """Accept an async request for ``route`` and queue it; replay it for a known key.

        Raise 400 for a URL this server did not issue or whose upload never happened, 413 for
        an upload over the size limit, 409 (scale-out) for an upload another job submitted,
        and 422 for an Idempotency-Key reused with a different request.
        """
        upload = self._uploads.resolve(request.URL)
        params = request.input.model_dump_json(exclude_none=True)
        job = JobRecord(
            str(uuid.uuid4()), route, self._labels[route], upload.upload_id, params,
            JobStatus.ACCEPTED, self._clock(), None, None, None, None,
        )  # fmt: skip
        fingerprint = _fingerprint(route, request, upload.upload_id)
        admission = self._store.admit(job, _checked_key(key), fingerprint, upload)
        if not admission.same_request:
            raise ApiProblem(422, "Idempotency-Key was already used with a different request")
        if admission.created or admission.job.status is JobStatus.ACCEPTED:
            # A replayed key whose job is still only accepted was never queued (the queue
            # failed right after the job was stored): queue it now. A job queued twice
            # still runs once, because a worker must claim it first.
            self._pool.enqueue(admission.job.job_id)
        return Submitted(admission.job, admission.created)

    def job(self, job_id: str) -> JobRecord:
        """Return the job with this id. Raise 404 if there is none."""
        job = self._store.get(job_id)
        if job is None:
            raise ApiProblem(404, f"no job with id {job_id!r}")
        return job

    def job_finished(self, job_id: str) -> None:
        """Wake the long polls of a job that has left the engine (done, failed or abandoned)."""
        self._waits.announce(job_id)

    async def wait_for_job(self, job_id: str, wait_seconds: float) -> JobRecord:
        """Return the job once it has finished, or as it stands after ``wait_seconds`` (the
        long-poll extension). Raise 404 if there is none."""
        job = await anyio.to_thread.run_sync(self.job, job_id)
        if job.status.is_terminal or wait_seconds <= 0:
            return job
        with self._waits.watching(job_id) as finished:
            # Read again once watching, so a job that finished in between is not waited for.
            job = await anyio.to_thread.run_sync(self.job, job_id)
            if job.status.is_terminal:
                return job
            deadline = time.monotonic() + wait_seconds
            while (left := deadline - time.monotonic()) > 0 and not finished.is_set():
                # Jobs that finish in another process announce nothing here: look again.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(finished.wait(), min(left, self._recheck_seconds))
                if not finished.is_set():
                    job = await anyio.to_thread.run_sync(self.job, job_id)
                    if job.status.is_terminal:
                        return job
        return await anyio.to_thread.run_sync(self.job, job_id)

    def cancel(self, job_id: str) -> JobRecord:
        """Cancel an unfinished job and return it. Raise 404 if unknown, 409 if it ended."""
        job = self.job(job_id)
        if self._store.cancel(job_id, self._clock()):
            self._pool.cancel(job_id)
            self._waits.announce(job_id)  # its long polls answer now, not when the engine stops
            return self.job(job_id)
        if job.status is JobStatus.CANCELLED:
            return job
        raise ApiProblem(409, f"job has already finished ({job.status.value}); too late to cancel")

    def health(self) -> dict[str, Any]:
        """Return liveness, the engine workers' state and the counters tests use to prove one
        engine run per file. ``status`` is ``degraded`` while a worker is dead."""
        try:
            counters = self._store.counters()
        except ApiProblem as problem:
            # The shared job store is out of reach: this front end cannot serve now.
            return {"status": "degraded", "error": problem.message}
        workers = self._pool.health()
        return {
            "status": "ok" if workers.alive == workers.configured else "degraded",
            "model": self._default_label,
            "models": self._labels,
            "submissions": counters.submissions,
            "engine_runs": counters.engine_runs,
            "queued": counters.queued,
            "workers": {
                "configured": workers.configured,
                "alive": workers.alive,
                "restarts": workers.restarts,
                "crashed_jobs": workers.crashed_jobs,
            },
        }

    def metrics(self) -> str:
        """Return the health counters in the Prometheus text exposition format."""
        counters = self._store.counters()
        workers = self._pool.health()
        samples = (
            ("submissions_total", "counter", "Jobs accepted since the data folder was made.",
             counters.submissions),
            ("engine_runs_total", "counter", "Engine runs started.", counters.engine_runs),
            ("jobs_queued", "gauge", "Jobs waiting for an engine worker.", counters.queued),
            ("workers_configured", "gauge", "Engine worker threads configured.",
             workers.configured),
            ("workers_alive", "gauge", "Engine worker threads alive now.", workers.alive),
            ("worker_restarts_total", "counter", "Dead engine workers restarted.",
             workers.restarts),
            ("crashed_jobs_total", "counter", "Jobs whose engine worker died under them.",
             workers.crashed_jobs),
        )  # fmt: skip
        text = "".join(
            _metric(f"{METRIC_PREFIX}{name}", kind, text, value)
            for name, kind, text, value in samples
        )
        return text + ("" if self._meter is None else self._meter.exposition())


def _metric(name: str, kind: str, help_text: str, value: int) -> str:
    return f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n{name} {value}\n"


def check_token(expected: str, authorization: str | None) -> None:
    """Raise 401 unless the Authorization header is ``Bearer <expected>`` (constant time)."""
    if not authorization:
        raise ApiProblem(401, "missing Authorization: Bearer <token> header")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        token.strip().encode(), expected.encode()
    ):
        raise ApiProblem(401, "invalid bearer token")


def _checked_key(key: str | None) -> str | None:
    if key is not None and not 0 < len(key) <= MAX_IDEMPOTENCY_KEY_LENGTH:
        raise ApiProblem(400, f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} chars")
    return key


def _fingerprint(route: str, request: SubmitRequest, upload_id: str) -> str:
    """Return what makes two submissions the same request: the route, the decoding options
    and the upload they name. The upload, not its URL: the embedded server listens on a new
    port at every start, so a submission re-sent after a restart names it at a new address."""
    canonical = json.dumps(
        [route, request.input.model_dump(mode="json"), upload_id], sort_keys=True
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
