"""The steps of one job, resumable from any of them: claimed recording -> published transcript.

Each step commits the job's new state before the next remote call, so that after a crash at
any point the job resumes where it stopped:

* ``claimed``: hash the file; wait for a job of the same content and settings that is in
  flight; reuse an earlier transcript of the same content (dedupe); else ask for an upload URL;
* ``uploading``: (re)start the upload with a fresh URL;
* ``uploaded``/``submitting``: submit with the job's Idempotency-Key; a submit that may have
  been sent already is re-sent with the same key, so the service runs it once;
* ``submitted``: poll, never submit again, unless the service answers that it no longer
  knows the request (:meth:`Steps.resend`: from the claim, with a new key, a bounded number
  of times);
* ``succeeded``: publish to the outbox and move the recording to done/.

A step decides nothing about errors: it raises, and :mod:`dropscribe.pipeline.outcomes`
decides. A step returns when the job is due again (:class:`Next`), or None when it rests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dropscribe.api_client import PollProgress, PollResult, RemoteStatus
from dropscribe.audit import Event
from dropscribe.core import errors
from dropscribe.core.backoff import next_poll_delay
from dropscribe.core.jobs import (
    Job,
    JobState,
    advance,
    audit_fields,
    extension_of,
    sent_anew,
    update,
)
from dropscribe.core.progress import observed
from dropscribe.pipeline import quality as completeness
from dropscribe.pipeline.changes import file_digest, recheck, stat_matches
from dropscribe.pipeline.outcomes import deadline_reason, past_deadline
from dropscribe.pipeline.ports import (
    Audit,
    Custodian,
    Publisher,
    Remote,
    Store,
    Transcriber,
)
from dropscribe.pipeline.publishing import Publication
from dropscribe.pipeline.step_options import Clock, Options

# How soon a job whose file changed during its upload is hashed again (seconds).
CHANGED_RETRY_SECONDS = 1.0

#: Why a submission that may have been sent is sent again, per kind of service.
RESENT_WITH_KEY = (
    "a submission may have been sent before the stop; re-sent with the same Idempotency-Key"
)
RESENT_AT_LEAST_ONCE = (
    "the recording may have been sent before the stop or the failed answer; OpenAI's protocol "
    "has no idempotency key, so it is sent again and the service may transcribe it twice"
)


@dataclass(frozen=True)
class Next:
    """The job is due again after ``delay`` seconds."""

    job: Job
    delay: float


def progress_fields(progress: PollProgress | None) -> dict[str, float]:
    """Return the audit fields of a poll answer's progress: seconds of audio done, and in all
    when the service says (none when it reports no progress)."""
    if progress is None:
        return {}
    fields = {"audio_seconds_done": progress.done_seconds}
    if progress.total_seconds is not None:
        fields["audio_seconds_total"] = progress.total_seconds
    return fields


class Steps:
    """One method per step; each touches the store, the service, the outbox or custody."""

    def __init__(
        self,
        store: Store,
        remote: Remote,
        outbox: Publisher,
        custody: Custodian,
        log: Audit,
        options: Options,
        clock: Clock,
        on_accepted: Callable[[], None],
        transcriber: Transcriber | None = None,
    ) -> None:
        """``on_accepted`` is called after each call the service accepted (the auth gate).
        With a ``transcriber`` (OpenAI's protocol) a recording is sent in one request instead
        of the four steps of ``remote``."""
        self._transcriber = transcriber
        self._store = store
        self._remote = remote
        self._outbox = outbox
        self._custody = custody
        self._log = log
        self._opt = options
        self._clock = clock
        self._accepted = on_accepted
        self._publication = Publication(store, outbox, custody, log, options, clock)

    def transfer(self, job: Job) -> Next | None:
        """Hash, dedupe, upload and submit, from wherever the job stands."""
        if job.state is JobState.CLAIMED:
            job = self._hashed(job)
            leader = self._store.first_in_flight(job.sha256, job.fingerprint)
            if leader is not None and leader.id != job.id:
                return self._wait_for(job, leader)
            reused = self._store.find_reusable(job.sha256, job.fingerprint)
            if reused is not None:
                self._reuse(job, reused)
                return None
        if self._transcriber is not None:
            return self._transcribe(job, self._transcriber)
        if job.state in (JobState.CLAIMED, JobState.UPLOADING):
            job = self._upload(job)
            if job.state is not JobState.UPLOADED:
                return Next(job, CHANGED_RETRY_SECONDS)
        current = self._current(job)
        if current is None:
            return Next(self._restart_changed(job), CHANGED_RETRY_SECONDS)
        return self._submit(current)

    def _hashed(self, job: Job) -> Job:
        path = self._custody.processing_path(job.source)
        if job.sha256 and job.fingerprint == self._opt.fingerprint and stat_matches(job, path):
            return job  # hashed before it waited for a twin; the file has not changed since
        digest, size, mtime_ns = file_digest(path)
        job = update(
            job, sha256=digest, size=size, fingerprint=self._opt.fingerprint, mtime_ns=mtime_ns
        )
        return self._store.save(job)

    def _wait_for(self, job: Job, leader: Job) -> Next:
        # Same content and settings as a job in flight: submitting it too would bill twice.
        # The leader wakes this job when it ends; the delay is only a safety net.
        self._log.info(
            Event.JOB_WAITING,
            **audit_fields(job),
            leader_job_id=leader.id,
            reason="same content and parameters as a recording in flight; waits for its result",
        )
        return Next(job, self._opt.poll.max_seconds)

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
        self.publish(job)

    def _upload(self, job: Job) -> Job:
        path = self._custody.processing_path(job.source)
        started = self._clock.time()
        url = self._remote.get_upload_url(extension_of(job.source))
        job = self._store.save(advance(job, JobState.UPLOADING, started, upload_url=url))
        self._log.info(Event.UPLOAD_STARTED, size=job.size, **audit_fields(job))
        self._remote.upload(url, path)
        current = self._current(job)
        if current is None:
            return self._restart_changed(job)
        job = current
        job = self._store.save(advance(job, JobState.UPLOADED, self._clock.time(), attempts=0))
        self._log.info(
            Event.UPLOAD_DONE,
            **audit_fields(job),
            size=job.size,
            duration_seconds=round(self._clock.time() - started, 3),
        )
        return job

    def _current(self, job: Job) -> Job | None:
        """Return ``job`` if its recording still holds what it hashed, None if the recording
        changed (its writer was not done when it was claimed). Bytes whose mtime alone moved
        (a backup tool, ``touch``) are the same recording: the new mtime is saved and logged,
        and the job goes on with its upload and request (see pipeline.changes)."""
        current = recheck(job, self._custody.processing_path(job.source))
        if current is not None and current.mtime_ns != job.mtime_ns:
            current = self._store.save(current)
            self._log.info(
                Event.JOB_TOUCHED,
                **audit_fields(current),
                reason="its modification time moved but its content is the same; "
                "it is not sent again",
            )
        return current

    def _restart_changed(self, job: Job) -> Job:
        # The file was still being written after it was claimed: what was uploaded (or
        # submitted) is stale. The job starts over from the claim with the whole file; a
        # request already made is recorded as superseded and its result never published.
        step = job.state.value
        old = job.request_id
        job = sent_anew(job, self._clock.time())
        self._store.save(job)
        reason = "the file changed after it was claimed; it is hashed and uploaded again"
        if old:
            reason += f"; request {old} of the incomplete file is superseded, sent anew"
        self._log.warning(
            Event.JOB_RESTARTED,
            **audit_fields(job),
            step=step,
            superseded_request_id=old,
            reason=reason,
        )
        return job

    def resend(self, job: Job, reason: str) -> Next:
        """Send a submitted job again from the upload (see sent_anew): the service lost its
        request after accepting it (``reason``, the poll's error, is logged by the pipeline
        as ``job.lost``); ``resends`` counts it."""
        old = job.request_id
        job = sent_anew(job, self._clock.time(), resends=job.resends + 1)
        self._store.save(job)
        self._log.warning(
            Event.JOB_RESENT,
            **audit_fields(job),
            superseded_request_id=old,
            resends=job.resends,
            reason=f"sent again from the upload (resend {job.resends}); request {old} is "
            "superseded",
        )
        return Next(job, 0.0)

    def _submit(self, job: Job) -> Next:
        job = self._store.save(advance(job, JobState.SUBMITTING, self._clock.time()))
        self._log.info(Event.SUBMIT_SENT, **audit_fields(job))
        if job.upload_url is None or job.idempotency_key is None:
            raise errors.DropscribeError("internal error: a submission without an upload URL")
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
        self._accepted()
        self._log.info(Event.SUBMIT_ACCEPTED, **audit_fields(job), model=job.model)
        return Next(job, self._opt.poll.initial_seconds)

    def resend_reason(self, job: Job) -> str:
        """Return why a job stopped in ``submitting`` is sent again, as this service allows."""
        return RESENT_AT_LEAST_ONCE if self._transcriber is not None else RESENT_WITH_KEY

    def _transcribe(self, job: Job, transcriber: Transcriber) -> Next | None:
        """Send the recording in one request and go on with its transcript (OpenAI's
        protocol). ``submitting`` is saved before the request: the state file says the
        recording may have been sent, which a later run cannot take back."""
        current = self._current(job)
        if current is None:
            return Next(self._restart_changed(job), CHANGED_RETRY_SECONDS)
        job = self._store.save(
            advance(current, JobState.SUBMITTING, self._clock.time(), model=transcriber.model)
        )
        self._log.info(Event.SUBMIT_SENT, **audit_fields(job))
        recording = self._custody.processing_path(job.source)
        # A stop or a lost answer from here on sends it again (RESENT_AT_LEAST_ONCE).
        result = transcriber.transcribe(recording, self._opt.whisper_input)
        self._accepted()
        now = self._clock.time()
        # Straight on to succeeded, saved with the result: a job in submitted would be polled.
        self._log.info(Event.SUBMIT_ACCEPTED, **audit_fields(job), model=job.model)
        answer = PollResult(
            RemoteStatus.SUCCESS, "success", result, None, job.model, None, None, None
        )
        return self._succeed(job, answer, now)

    def poll(self, job: Job) -> Next | None:
        """Poll a submitted job; publish it when the service has its result."""
        current = self._current(job)
        if current is None:
            return Next(self._restart_changed(job), CHANGED_RETRY_SECONDS)
        job = current
        if job.poll_url is None:
            raise errors.DropscribeError("internal error: a submitted job without a poll URL")
        outcome = self._remote.poll(job.poll_url)
        self._accepted()
        now = self._clock.time()
        if outcome.status is RemoteStatus.SUCCESS:
            return self._succeed(job, outcome, now)
        if outcome.status in (RemoteStatus.FAILED, RemoteStatus.CANCELLED):
            reason = outcome.error or f"the service reports the job {outcome.raw_status}"
            raise errors.RemoteJobFailed(reason, step="poll")
        fields = {**audit_fields(job), **progress_fields(outcome.progress)}
        if outcome.status is RemoteStatus.UNKNOWN:
            self._log.warning(Event.POLL_UNKNOWN_STATUS, status=outcome.raw_status, **fields)
        else:
            self._log.info(Event.POLL_STATUS, status=outcome.status.value, **fields)
        if past_deadline(job, now, self._opt.poll):
            raise errors.PollDeadlinePassed(deadline_reason(self._opt.poll), step="poll")
        delay = next_poll_delay(self._opt.poll, job.polls, self._clock.random())
        reading = outcome.progress
        progress = job.progress
        if reading is not None:
            progress = observed(progress, reading.done_seconds, reading.total_seconds, now)
        job = update(job, polls=job.polls + 1, next_due=now + delay, attempts=0, progress=progress)
        return Next(self._store.save(job), delay)

    def _succeed(self, job: Job, outcome: PollResult, now: float) -> Next | None:
        current = self._current(job)
        if current is None:  # the result is of the incomplete file: never published
            return Next(self._restart_changed(job), CHANGED_RETRY_SECONDS)
        job = current
        recording = self._custody.processing_path(job.source)
        result, problem = completeness.checked(
            outcome.result or {}, self._opt.quality, self._opt.speech, recording
        )
        job = advance(job, JobState.SUCCEEDED, now, model=outcome.model or job.model, attempts=0)
        self._store.save(job, result)
        if problem is not None:
            self._log.warning(Event.QUALITY_UNKNOWN, **audit_fields(job), error=problem)
        self._log.info(Event.JOB_SUCCEEDED, **audit_fields(job), model=job.model)
        return self.publish_checked(job)

    def publish_checked(self, job: Job) -> Next | None:
        """Publish a succeeded job, unless its recording changed since it was hashed: then
        start over from the claim (the result is of an incomplete file).

        A recording no longer in processing/ was moved to done/ by a publish that a crash cut
        short before it saved ``published`` (only publishing moves it there while the job is
        succeeded): its result is of the file as hashed, and publishing again finishes it."""
        if self._custody.processing_path(job.source).exists():
            current = self._current(job)
            if current is None:
                return Next(self._restart_changed(job), CHANGED_RETRY_SECONDS)
            job = current
        self.publish(job)
        return None

    def publish(self, job: Job) -> None:
        """Label the speakers, write the outputs, move the recording to done/, mark the job
        published (:mod:`dropscribe.pipeline.publishing`)."""
        self._publication.publish(job)
