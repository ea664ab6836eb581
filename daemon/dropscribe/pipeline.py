"""The four steps, resumable from any of them: claimed recording -> published transcript.

Each step commits the job's new state before the next remote call, so that after a crash at
any point :meth:`Pipeline.recover` can resume every job where it stopped:

* ``claimed``: hash the file, reuse an earlier transcript of the same content (dedupe), else
  ask for an upload URL;
* ``uploading``: (re)start the upload with a fresh URL;
* ``uploaded``/``submitting``: submit with the job's Idempotency-Key; a submit that may have
  been sent already is re-sent with the same key, so the service runs it once;
* ``submitted``: poll, never submit again;
* ``succeeded``: publish to the outbox and move the recording to done/.

Decisions (what to do after an error, when to poll next) are pure functions; the methods that
touch the network, the disk and the state file are short. Waiting is the scheduler's job: a
step returns and says when the job is due again.
"""

from __future__ import annotations

import hashlib
import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from dropscribe import errors
from dropscribe import quality as completeness
from dropscribe.api_client import PollResult, RemoteStatus, Submission
from dropscribe.audit import Event
from dropscribe.backoff import PollPolicy, RetryPolicy, attempts_left, compute_delay
from dropscribe.backoff import next_poll_delay as poll_delay
from dropscribe.jobs import (
    Job,
    JobState,
    advance,
    audit_fields,
    extension_of,
    failure_report,
    new_job,
    output_stem,
    update,
)
from dropscribe.scheduler import Scheduler

TRANSFER = "transfer"
POLL = "poll"
HASH_CHUNK_BYTES = 1024 * 1024
# How long all work waits after the service refused our key, growing per refusal (seconds).
AUTH_PAUSE_FIRST_SECONDS = 5.0
AUTH_PAUSE_MAX_SECONDS = 300.0
TRANSFER_STATES = frozenset(
    {JobState.CLAIMED, JobState.UPLOADING, JobState.UPLOADED, JobState.SUBMITTING}
)


class Remote(Protocol):
    """The service, one method per remote call (dropscribe.api_client.ApiClient)."""

    def get_upload_url(self, extension: str) -> str: ...
    def upload(self, url: str, path: Path) -> None: ...
    def submit(
        self, upload_url: str, params: Mapping[str, Any], idempotency_key: str
    ) -> Submission: ...
    def poll(self, poll_url: str) -> PollResult: ...


class Store(Protocol):
    """The durable job store (dropscribe.state.StateStore)."""

    def save(self, job: Job, result: Mapping[str, Any] | None = None) -> Job: ...
    def get(self, job_id: str) -> Job | None: ...
    def result(self, job_id: str) -> dict[str, Any] | None: ...
    def unfinished(self) -> list[Job]: ...
    def find_reusable(self, sha256: str, fingerprint: str) -> Job | None: ...
    def by_request_id(self, request_id: str) -> Job | None: ...


class Publisher(Protocol):
    """The outbox (dropscribe.outbox.Outbox)."""

    def publish(
        self, rel: str, job_id: str, result: Mapping[str, Any], provenance: Mapping[str, Any]
    ) -> list[Path]: ...


class Custodian(Protocol):
    """Moves of the recording itself (dropscribe.custody.Custody)."""

    def processing_path(self, rel: str) -> Path: ...
    def complete(self, rel: str, *, delete: bool = False) -> Path | None: ...
    def fail(self, rel: str, report: Mapping[str, Any], *, from_inbox: bool = False) -> Path: ...


class Audit(Protocol):
    """A structlog logger."""

    def info(self, event: str, **kw: Any) -> Any: ...
    def warning(self, event: str, **kw: Any) -> Any: ...
    def error(self, event: str, **kw: Any) -> Any: ...
    def exception(self, event: str, **kw: Any) -> Any: ...


@dataclass(frozen=True)
class Options:
    """What the pipeline needs from the settings."""

    whisper_input: Mapping[str, Any]
    fingerprint: str
    service_tier: str
    retry: RetryPolicy
    poll: PollPolicy
    delete_after_success: bool = False
    quality: completeness.QualityPolicy = field(default_factory=completeness.QualityPolicy)
    #: Finds the speech in a recording whose result carries no coverage (a remote service's).
    speech: completeness.SpeechFinder | None = None


@dataclass(frozen=True)
class Clock:
    """Wall-clock time (stored with each job) and the random source of jitter, passed in so
    that tests pin both. Waiting itself is the scheduler's, on the monotonic clock."""

    time: Callable[[], float] = time.time
    random: Callable[[], float] = random.random


def file_digest(path: Path) -> tuple[str, int, int]:
    """Return (sha256, size, mtime_ns) of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        stat = os.fstat(handle.fileno())
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest(), stat.st_size, stat.st_mtime_ns


class Pipeline:
    """Drives jobs through the steps; the scheduler calls :meth:`run_transfer` and
    :meth:`run_poll` with job ids."""

    def __init__(
        self,
        store: Store,
        remote: Remote,
        outbox: Publisher,
        custody: Custodian,
        audit: Audit,
        options: Options,
        clock: Clock = Clock(),
    ) -> None:
        self._store = store
        self._remote = remote
        self._outbox = outbox
        self._custody = custody
        self._log = audit
        self._opt = options
        self._clock = clock
        self._scheduler: Scheduler | None = None
        self._auth_lock = threading.Lock()
        self._auth_paused_until = 0.0
        self._auth_refusals = 0

    def attach(self, scheduler: Scheduler) -> None:
        """Use ``scheduler`` to run the jobs' next steps."""
        self._scheduler = scheduler

    # -- entry points -------------------------------------------------------------------

    def accept(self, rel: str) -> Job:
        """Record a recording just claimed into processing/ and schedule its first step."""
        job = self._store.save(new_job(rel, self._clock.time()))
        self._log.info(Event.JOB_CLAIMED, **audit_fields(job))
        self._schedule(job, 0.0)
        return job

    def recover(self) -> int:
        """Schedule every unfinished job from where it stopped; return how many."""
        count = 0
        for job in self._store.unfinished():
            if self._scheduler is not None and self._scheduler.knows(job.id):
                continue
            if job.state is JobState.SUBMITTING:
                self._log.warning(
                    Event.SUBMIT_RESENT,
                    **audit_fields(job),
                    reason="a submission may have been sent before the stop; "
                    "re-sent with the same Idempotency-Key",
                )
            self._log.info(Event.JOB_RECOVERED, state=job.state.value, **audit_fields(job))
            self._schedule(job, max(0.0, job.next_due - self._clock.time()))
            count += 1
        return count

    def poll_now(self, request_id: str) -> None:
        """The service says ``request_id`` finished: poll its job at once, not at its next
        due time. Safe to call from any thread."""
        job = self._store.by_request_id(request_id)
        if job is not None and job.state is JobState.SUBMITTED:
            self._schedule(job, 0.0)

    def run_transfer(self, job_id: str) -> None:
        """Run the transfer steps of one job (hash, dedupe, upload, submit) and reschedule."""
        job = self._store.get(job_id)
        if job is None or job.state not in TRANSFER_STATES:
            return
        self._guarded(job, self._transfer)

    def run_poll(self, job_id: str) -> None:
        """Poll one submitted job, or publish a succeeded one, and reschedule."""
        job = self._store.get(job_id)
        if job is None:
            return
        if job.state is JobState.SUBMITTED:
            self._guarded(job, self._poll)
        elif job.state is JobState.SUCCEEDED:
            self._guarded(job, self._publish)

    # -- steps ----------------------------------------------------------------------------

    def _transfer(self, job: Job) -> None:
        if job.state is JobState.CLAIMED:
            job = self._hash(job)
            reused = self._store.find_reusable(job.sha256, job.fingerprint)
            if reused is not None:
                self._reuse(job, reused)
                return
        if job.state in (JobState.CLAIMED, JobState.UPLOADING):
            job = self._upload(job)
            if job.state is not JobState.UPLOADED:
                return
        self._submit(job)

    def _hash(self, job: Job) -> Job:
        digest, size, mtime_ns = file_digest(self._custody.processing_path(job.source))
        job = update(
            job,
            sha256=digest,
            size=size,
            fingerprint=self._opt.fingerprint,
            extra={**job.extra, "mtime_ns": mtime_ns},
        )
        return self._store.save(job)

    def _reuse(self, job: Job, earlier: Job) -> None:
        result = self._store.result(earlier.id) or {}
        job = advance(
            job,
            JobState.SUCCEEDED,
            self._clock.time(),
            result_of=earlier.id,
            request_id=earlier.request_id,
            model=earlier.model,
        )
        self._store.save(job, result)
        self._log.info(
            Event.JOB_DUPLICATE,
            **audit_fields(job),
            reused_job_id=earlier.id,
            reason="same content and parameters as an earlier recording; no API call made",
        )
        self._publish(job)

    def _upload(self, job: Job) -> Job:
        path = self._custody.processing_path(job.source)
        started = self._clock.time()
        url = self._remote.get_upload_url(extension_of(job.source))
        job = self._store.save(advance(job, JobState.UPLOADING, started, upload_url=url))
        self._log.info(Event.UPLOAD_STARTED, size=job.size, **audit_fields(job))
        self._remote.upload(url, path)
        if self._changed_since_hash(job, path):
            return self._restart_changed(job)
        job = self._store.save(advance(job, JobState.UPLOADED, self._clock.time(), attempts=0))
        self._log.info(
            Event.UPLOAD_DONE,
            **audit_fields(job),
            size=job.size,
            duration_seconds=round(self._clock.time() - started, 3),
        )
        return job

    def _changed_since_hash(self, job: Job, path: Path) -> bool:
        stat = path.stat()
        return stat.st_size != job.size or stat.st_mtime_ns != job.extra.get("mtime_ns")

    def _restart_changed(self, job: Job) -> Job:
        # The file was still being written after it was claimed: what was uploaded is stale.
        # Nothing was submitted yet, so nothing is billed; start over once it is hashed again.
        job = self._store.save(advance(job, JobState.CLAIMED, self._clock.time(), upload_url=None))
        self._log.warning(
            Event.JOB_REQUEUED,
            **audit_fields(job),
            reason="the file changed after it was claimed; it is hashed and uploaded again",
        )
        self._schedule(job, 1.0)
        return job

    def _submit(self, job: Job) -> None:
        job = self._store.save(advance(job, JobState.SUBMITTING, self._clock.time()))
        self._log.info(Event.SUBMIT_SENT, **audit_fields(job))
        assert job.upload_url is not None and job.idempotency_key is not None
        sub = self._remote.submit(job.upload_url, self._opt.whisper_input, job.idempotency_key)
        now = self._clock.time()
        job = advance(
            job,
            JobState.SUBMITTED,
            now,
            request_id=sub.request_id,
            poll_url=sub.poll_url,
            model=sub.model,
            attempts=0,
            polls=0,
            next_due=now + self._opt.poll.initial_seconds,
        )
        self._store.save(job)
        self._auth_ok()
        self._log.info(
            Event.SUBMIT_ACCEPTED,
            **audit_fields(job),
            model=job.model,
        )
        self._schedule(job, self._opt.poll.initial_seconds)

    def _poll(self, job: Job) -> None:
        assert job.poll_url is not None
        outcome = self._remote.poll(job.poll_url)
        self._auth_ok()
        now = self._clock.time()
        fields = audit_fields(job)
        if outcome.status is RemoteStatus.SUCCESS:
            self._succeed(job, outcome, now)
            return
        if outcome.status in (RemoteStatus.FAILED, RemoteStatus.CANCELLED):
            reason = outcome.error or f"the service reports the job {outcome.raw_status}"
            raise errors.RemoteJobFailed(reason, step="poll")
        if outcome.status is RemoteStatus.UNKNOWN:
            self._log.warning(Event.POLL_UNKNOWN_STATUS, status=outcome.raw_status, **fields)
        else:
            self._log.info(Event.POLL_STATUS, status=outcome.status.value, **fields)
        if self._past_deadline(job, now):
            raise self._deadline_error()
        delay = poll_delay(self._opt.poll, job.polls, self._clock.random())
        job = self._store.save(update(job, polls=job.polls + 1, next_due=now + delay, attempts=0))
        self._schedule(job, delay)

    def _past_deadline(self, job: Job, now: float) -> bool:
        submitted = job.steps.get(JobState.SUBMITTED.value, now)
        return now - submitted > self._opt.poll.deadline_seconds

    def _deadline_error(self) -> errors.RemoteJobFailed:
        hours = self._opt.poll.deadline_seconds / 3600
        return errors.RemoteJobFailed(
            f"no result within {hours:g} hours of submission; `dropscribe retry` "
            "resumes polling the same request (it is not submitted again)",
            step="poll",
        )

    def _succeed(self, job: Job, outcome: PollResult, now: float) -> None:
        result, problem = self._assess_quality(job, dict(outcome.result or {}))
        job = advance(job, JobState.SUCCEEDED, now, model=outcome.model or job.model, attempts=0)
        self._store.save(job, result)
        self._log.info(
            Event.JOB_SUCCEEDED,
            **audit_fields(job),
            model=job.model,
        )
        if problem is not None:
            self._log.warning(Event.QUALITY_UNKNOWN, **audit_fields(job), error=problem)
        self._publish(job)

    def _assess_quality(
        self, job: Job, result: dict[str, Any]
    ) -> tuple[dict[str, Any], str | None]:
        # Logs nothing: the result is committed before the next audit line is written.
        recording = self._custody.processing_path(job.source)
        return completeness.checked(result, self._opt.quality, self._opt.speech, recording)

    def _publish(self, job: Job) -> None:
        result = self._store.result(job.id) or {}
        if completeness.is_incomplete(result):
            self._log.warning(
                Event.TRANSCRIPT_INCOMPLETE, **audit_fields(job), **completeness.shortfall(result)
            )
            if self._opt.quality.fail_incomplete:
                self.fail(job, errors.IncompleteTranscript(completeness.describe_shortfall(result)))
                return
            job = update(job, extra={**job.extra, "incomplete": True})
        outputs = self._outbox.publish(
            output_stem(job.source), job.id, result, self._provenance(job)
        )
        moved = self._complete_source(job)
        now = self._clock.time()
        job = advance(
            job, JobState.PUBLISHED, now, outputs=tuple(str(p) for p in outputs), next_due=0.0
        )
        self._store.save(update(job, extra={**job.extra, "done_path": moved}))
        common = audit_fields(job)
        self._log.info(Event.JOB_PUBLISHED, outputs=list(job.outputs), **common)
        self._log.info(
            Event.JOB_SUMMARY,
            outcome="published",
            model=job.model,
            size=job.size,
            duration_seconds=round(now - job.steps.get("claimed", now), 3),
            **common,
        )

    def _complete_source(self, job: Job) -> str | None:
        try:
            moved = self._custody.complete(job.source, delete=self._opt.delete_after_success)
        except FileNotFoundError:
            # A crash after the move and before the state was saved: it is already done.
            return job.extra.get("done_path")
        return None if moved is None else str(moved)

    def _provenance(self, job: Job) -> dict[str, Any]:
        return {
            "source": job.source,
            "size": job.size,
            "sha256": job.sha256,
            "request_id": job.request_id,
            "model": job.model,
            "service_tier": self._opt.service_tier,
            "input": dict(self._opt.whisper_input),
            "steps": job.steps,
            "reused_from_job": job.result_of,
        }

    # -- errors -----------------------------------------------------------------------------

    def _guarded(self, job: Job, step: Callable[[Job], None]) -> None:
        try:
            step(job)
        except errors.AuthError as exc:
            self._pause_for_auth(job, exc)
        except errors.TransientApiError as exc:
            self._retry_later(job, exc)
        except (errors.DropscribeError, OSError) as exc:
            self.fail(job, exc)
        except Exception as exc:  # one bad job must not stop the worker thread
            self._log.exception(Event.JOB_FAILED, **audit_fields(job))
            self.fail(job, RuntimeError(f"internal error: {exc!r}"))

    def _retry_later(self, job: Job, exc: errors.TransientApiError) -> None:
        current = self._store.get(job.id) or job
        attempt = current.attempts + 1
        polling = current.state is JobState.SUBMITTED
        if not polling and not attempts_left(self._opt.retry, attempt):
            self.fail(self._store.save(update(current, attempts=attempt)), exc)
            return
        if polling and self._past_deadline(current, self._clock.time()):
            self.fail(current, self._deadline_error())
            return
        if isinstance(exc, errors.UploadUrlExpired) and current.state is JobState.UPLOADING:
            current = update(current, upload_url=None)
        delay = compute_delay(self._opt.retry, attempt, self._clock.random(), exc.retry_after)
        current = update(current, attempts=attempt, next_due=self._clock.time() + delay)
        self._store.save(current)
        self._log.warning(
            Event.JOB_RETRY,
            **audit_fields(current),
            state=current.state.value,
            attempt=attempt,
            delay_seconds=round(delay, 3),
            error=str(exc),
            status=exc.status,
        )
        self._schedule(current, delay)

    def _pause_for_auth(self, job: Job, exc: errors.AuthError) -> None:
        now = self._clock.time()
        with self._auth_lock:
            newly = self._auth_paused_until <= now
            if newly:
                self._auth_refusals += 1
                wait = min(
                    AUTH_PAUSE_MAX_SECONDS,
                    AUTH_PAUSE_FIRST_SECONDS * 2 ** (self._auth_refusals - 1),
                )
                self._auth_paused_until = now + wait
            until = self._auth_paused_until
        if newly:
            self._log.error(
                Event.AUTH_PAUSED,
                status=exc.status,
                error=str(exc),
                resume_in_seconds=round(until - now, 1),
                hint="the service refused the API key: check it; work resumes by itself "
                "once the key works again",
            )
        self._schedule(job, until - now + 0.01)

    def _auth_ok(self) -> None:
        with self._auth_lock:
            was_paused = self._auth_refusals > 0
            self._auth_refusals = 0
        if was_paused:
            self._log.warning(Event.AUTH_RESUMED)

    def fail(self, job: Job, exc: BaseException) -> None:
        """Record the job as failed and move its recording to failed/ with a report."""
        current = self._store.get(job.id) or job
        step = getattr(exc, "step", "") or current.state.value
        failed = advance(
            current, JobState.FAILED, self._clock.time(), error=str(exc), failed_step=step
        )
        self._store.save(failed)
        where = self._move_to_failed(failed)
        self._store.save(update(failed, extra={**failed.extra, "failed_path": where}))
        self._log.error(
            Event.JOB_FAILED,
            **audit_fields(failed),
            step=step,
            error=str(exc),
            failed_path=where,
        )

    def _move_to_failed(self, job: Job) -> str | None:
        try:
            return str(self._custody.fail(job.source, failure_report(job)))
        except FileNotFoundError:
            return job.extra.get("failed_path")

    def settle_failed(self, jobs: list[Job]) -> None:
        """Move recordings of failed jobs still in processing/ (a crash before the move)."""
        for job in jobs:
            # Most failed jobs were moved long ago: look at the disk only for the others.
            if (
                not job.extra.get("failed_path")
                and self._custody.processing_path(job.source).exists()
            ):
                where = self._move_to_failed(job)
                self._store.save(update(job, extra={**job.extra, "failed_path": where}))

    def _schedule(self, job: Job, delay: float) -> None:
        if self._scheduler is None:
            return
        pool = TRANSFER if job.state in TRANSFER_STATES else POLL
        self._scheduler.schedule(job.id, pool, delay)
