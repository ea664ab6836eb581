"""Pure decisions on what a failed step leads to: try again later, fail the job, or pause.

Like dramatiq's ``Retries`` middleware, the worker running a step does not decide: it hands the
exception, the job and the time to :func:`decide` and carries out the :class:`Outcome`. Errors
say themselves whether a later try may help (``retryable`` in :mod:`dropscribe.core.errors`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from dropscribe.core import errors
from dropscribe.core.backoff import PollPolicy, RetryPolicy, compute_delay, may_retry
from dropscribe.core.jobs import Job, JobState
from dropscribe.pipeline.refusals import LOST_REQUEST_HINT, REFUSED_POLL_HINT, refusal_hint


class Action(StrEnum):
    """What the pipeline does with a job whose step raised."""

    RETRY = "retry"  # run the same step again after ``delay`` seconds
    FAIL = "fail"  # the job ends in failed/ with a report
    PAUSE = "pause"  # the service refused our key: all work waits
    RESEND = "resend"  # the service lost the accepted request: send it again from the upload


@dataclass(frozen=True)
class Outcome:
    """The decision for one failed step."""

    action: Action
    reason: str
    step: str
    attempt: int = 0  # the attempt that just failed, counted from 1 (retries and fails)
    delay: float = 0.0  # seconds until the retry
    drop_upload_url: bool = False  # the upload URL expired: ask for a fresh one
    hint: str | None = None  # what to do about a failure, when the usual advice would mislead
    request_over: bool = False  # the failed job's request cannot finish: `retry` sends anew


#: Times a job is sent again from the upload because the service lost its accepted request
#: (a 404 to a poll: Redis without persistence restarted, or a data folder was lost), before
#: it fails: a service that loses every request is broken, and each resend may be billed.
MAX_RESENDS = 3

#: HTTP statuses of a poll that mean the service no longer knows an accepted request.
LOST_STATUSES = frozenset({404, 410})


def lost_request(exc: BaseException, job: Job) -> bool:
    """Return True if ``exc`` says the service no longer knows the request of ``job``, which
    it accepted: a 404 or 410 to its poll. Nothing else sends a job again, so a job the
    service may still run is never submitted twice."""
    return (
        isinstance(exc, errors.PermanentApiError)
        and exc.status in LOST_STATUSES
        and job.state is JobState.SUBMITTED
        and bool(job.request_id)
    )


def failure_hint(exc: BaseException, job: Job, settings: Mapping[str, str]) -> str | None:
    """Return advice for a failure that polling again cannot mend, or None for the usual;
    ``settings`` maps the limits a refusal names to the daemon's settings that lift them."""
    if isinstance(exc, errors.RemoteJobFailed):
        return refusal_hint(str(exc), settings)
    if lost_request(exc, job):
        return LOST_REQUEST_HINT
    if isinstance(exc, errors.PermanentApiError) and job.poll_url:
        return REFUSED_POLL_HINT
    return None


def request_over(exc: BaseException, job: Job) -> bool:
    """Return True if the job's request can never finish after ``exc``: the service failed
    it (a refusal) or lost it, so `retry` must send the recording anew. Any other refusal of
    a poll leaves the service's job as it was: `retry` polls it again."""
    return isinstance(exc, errors.RemoteJobFailed) or lost_request(exc, job)


def past_deadline(job: Job, now: float, poll: PollPolicy) -> bool:
    """Return True if a submitted job has waited longer for its result than the policy allows."""
    submitted = job.steps.get(JobState.SUBMITTED.value, now)
    return now - submitted > poll.deadline_seconds


def deadline_reason(poll: PollPolicy) -> str:
    """Return the failure reason of a job that passed the poll deadline."""
    hours = poll.deadline_seconds / 3600
    return (
        f"no result within {hours:g} hours of submission; `dropscribe retry` "
        "resumes polling the same request (it is not submitted again)"
    )


#: The states whose entry is progress the retry budget counts from: a job that goes back to
#: ``uploading`` for a fresh URL at every try has made none.
_PROGRESS_STATES = (
    JobState.CLAIMED,
    JobState.UPLOADED,
    JobState.SUBMITTED,
    JobState.SUCCEEDED,
)


def progress_at(job: Job, now: float) -> float:
    """Return when ``job`` last made progress (epoch seconds): the latest entry into a state
    that only a successful step leads to, ``now`` if it has none."""
    times = [job.steps[s.value] for s in _PROGRESS_STATES if s.value in job.steps]
    return max(times, default=now)


def gave_up_reason(exc: BaseException, job: Job, now: float, retry: RetryPolicy) -> str:
    """Return the failure reason of a job whose transient error outlived the retry policy."""
    hours = (now - progress_at(job, now)) / 3600
    if retry.max_attempts is not None and job.attempts + 1 >= retry.max_attempts:
        return f"{exc} (after {job.attempts + 1} attempts)"
    return f"{exc} (still failing after {hours:.3g} hours of retries)"


def step_of(exc: BaseException, job: Job) -> str:
    """Return the step an error happened in: the error's own, else the job's state."""
    return str(getattr(exc, "step", "") or job.state.value)


def decide(
    exc: BaseException,
    job: Job,
    now: float,
    retry: RetryPolicy,
    poll: PollPolicy,
    random: float,
    failing_in_a_row: int | None = None,
    settings: Mapping[str, str] | None = None,
) -> Outcome:
    """Given the error a step of ``job`` raised at ``now``, return what happens next.

    ``random`` (0..1) draws the retry's jitter. ``failing_in_a_row`` is, for a call to the
    service, how many calls across jobs have failed in a row up to this one (None for a step
    that calls nothing): the retry's backoff grows with it as well as with the job's attempts,
    whichever is fewer, since a job's failures in a row while other calls go through are a
    flaky service's bad luck, not a sign that it needs more time. ``settings`` maps the limits
    a refusal may name to the daemon's settings that lift them (for the failure's advice).

    A request the service lost after accepting it is sent again from the upload, at most
    MAX_RESENDS times (``job.resends``, kept in the state file); then the job fails.
    """
    step = step_of(exc, job)
    if isinstance(exc, errors.AuthError):
        return Outcome(Action.PAUSE, str(exc), step)
    if getattr(exc, "retryable", False):
        return _retryable(exc, job, now, retry, poll, random, step, failing_in_a_row)
    if lost_request(exc, job) and job.resends < MAX_RESENDS:
        return Outcome(Action.RESEND, str(exc), step, attempt=job.attempts)
    if isinstance(exc, errors.DropscribeError | OSError):
        hint = failure_hint(exc, job, settings or {})
        over = request_over(exc, job)
        reason = str(exc)
        if lost_request(exc, job):
            reason += f" (the service lost the request; sent again {job.resends} times, the most)"
        return Outcome(
            Action.FAIL, reason, step, attempt=job.attempts, hint=hint, request_over=over
        )
    return Outcome(Action.FAIL, f"internal error: {exc!r}", step, attempt=job.attempts)


def _retryable(
    exc: BaseException,
    job: Job,
    now: float,
    retry: RetryPolicy,
    poll: PollPolicy,
    random: float,
    step: str,
    failing_in_a_row: int | None,
) -> Outcome:
    attempt = job.attempts + 1
    grown = attempt if failing_in_a_row is None else max(1, min(attempt, failing_in_a_row))
    polling = job.state is JobState.SUBMITTED
    if polling and past_deadline(job, now, poll):
        return Outcome(Action.FAIL, deadline_reason(poll), "poll", attempt=job.attempts)
    if not polling and not may_retry(retry, attempt, progress_at(job, now), now):
        return Outcome(Action.FAIL, gave_up_reason(exc, job, now, retry), step, attempt=attempt)
    return Outcome(
        Action.RETRY,
        str(exc),
        step,
        attempt=attempt,
        delay=compute_delay(retry, grown, random, getattr(exc, "retry_after", None)),
        drop_upload_url=isinstance(exc, errors.UploadUrlExpired)
        and job.state is JobState.UPLOADING,
    )
