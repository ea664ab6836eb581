"""A job and its lifecycle: one claimed recording on its way to a published transcript.

The lifecycle is linear, with ``failed`` reachable from every unfinished state::

    claimed -> uploading -> uploaded -> submitting -> submitted -> succeeded -> published
        \\___________\\____________\\____________\\____________\\_________-> failed

A few backward edges exist on purpose: an interrupted or expired upload goes back to
``uploading`` with a fresh URL; a submitted job whose request the service no longer knows
(a 404 on its poll: the service lost it) goes back to ``claimed`` and is sent again, a bounded
number of times (``resends``); and ``retry`` takes a failed job back to ``claimed`` (or to
``submitted`` when the service may still have its request, so that it is polled and never
submitted twice).
Transitions are pure: :func:`advance` returns a new :class:`Job` and never touches disk.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import PurePosixPath
from typing import Any

from dropscribe.core.progress import AudioProgress


class JobState(StrEnum):
    """Where a job stands; each value is stored verbatim in the state file."""

    CLAIMED = "claimed"
    UPLOADING = "uploading"
    UPLOADED = "uploaded"
    SUBMITTING = "submitting"
    SUBMITTED = "submitted"
    SUCCEEDED = "succeeded"
    PUBLISHED = "published"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        """Return True for the states a job rests in: published or failed."""
        return self in FINAL_STATES


FINAL_STATES = frozenset({JobState.PUBLISHED, JobState.FAILED})

_S = JobState
ALLOWED: dict[JobState, frozenset[JobState]] = {
    # succeeded: a dedupe hit; submitting: a service answering in one request (OpenAI's).
    _S.CLAIMED: frozenset({_S.UPLOADING, _S.SUBMITTING, _S.SUCCEEDED, _S.FAILED}),
    _S.UPLOADING: frozenset({_S.UPLOADING, _S.UPLOADED, _S.CLAIMED, _S.FAILED}),  # claimed: changed
    # claimed, from any step before published: the file changed after the claim.
    _S.UPLOADED: frozenset({_S.SUBMITTING, _S.UPLOADING, _S.CLAIMED, _S.FAILED}),
    # succeeded: a service that answers in one request (OpenAI's) answered with the result.
    _S.SUBMITTING: frozenset(
        {_S.SUBMITTING, _S.SUBMITTED, _S.SUCCEEDED, _S.UPLOADING, _S.CLAIMED, _S.FAILED}
    ),
    _S.SUBMITTED: frozenset({_S.SUCCEEDED, _S.CLAIMED, _S.FAILED}),
    _S.SUCCEEDED: frozenset({_S.PUBLISHED, _S.CLAIMED, _S.FAILED}),
    _S.PUBLISHED: frozenset(),
    _S.FAILED: frozenset({_S.CLAIMED, _S.SUBMITTED}),  # retry
}


class IllegalTransition(ValueError):
    """A programming error: the lifecycle does not allow this step."""


@dataclass(frozen=True)
class Job:
    """One recording's journey; every field is persisted by the state store.

    ``source`` is the path relative to the inbox (and so to processing/, done/, failed/);
    ``steps`` maps a state name to the wall-clock time (epoch seconds) it was entered.
    """

    id: str
    source: str
    state: JobState = JobState.CLAIMED
    size: int = 0
    sha256: str = ""
    fingerprint: str = ""
    attempts: int = 0
    upload_url: str | None = None
    idempotency_key: str | None = None
    request_id: str | None = None
    poll_url: str | None = None
    model: str | None = None
    polls: int = 0
    next_due: float = 0.0
    error: str | None = None
    failed_step: str | None = None
    outputs: tuple[str, ...] = ()
    result_of: str | None = None
    steps: dict[str, float] = field(default_factory=dict)
    mtime_ns: int | None = None  # the recording's mtime when it was hashed
    done_path: str | None = None  # where the recording went in done/ (None: deleted)
    failed_path: str | None = None  # where the recording went in failed/
    profile: str | None = None  # the folder profile whose settings it runs with (None: top)
    # Request ids of earlier submissions of this recording, given up because the file changed
    # after them (its writer was not done): their results are never published.
    superseded: tuple[str, ...] = ()
    # How far the service is with the audio, as its polls last said (None: it never said);
    # kept once the job has its result, for the tally of a run.
    progress: AudioProgress | None = None
    # Times the job was sent again from the upload because the service lost its accepted
    # request (it answered 404 to a poll); bounded, and kept across restarts.
    resends: int = 0
    # True once the service will never give the current request a result: it refused the
    # recording or lost the request. `retry` then sends the recording again from the upload
    # (a new request) rather than polling a request that cannot finish.
    request_over: bool = False


def advance(job: Job, state: JobState, now: float, **changes: Any) -> Job:
    """Given a job, a target state and the time, return the job in that state.

    ``changes`` replaces other fields at the same time. Raise IllegalTransition if the
    lifecycle does not lead from the job's state to ``state``.
    """
    if state not in ALLOWED[job.state]:
        raise IllegalTransition(f"job {job.id}: {job.state.value} -> {state.value}")
    steps = {**job.steps, state.value: now}
    return dataclasses.replace(job, state=state, steps=steps, **changes)


def sent_anew(job: Job, now: float, **changes: Any) -> Job:
    """Return the job back at ``claimed``, to be uploaded and submitted anew: its upload URL
    and request dropped (the request kept in ``superseded``, its result never published), and
    a new Idempotency-Key, since the service would answer the old key with the old request.
    ``changes`` replaces other fields at the same time."""
    old = job.request_id
    fresh: dict[str, Any] = {
        "upload_url": None,
        "request_id": None,
        "poll_url": None,
        "polls": 0,
        "attempts": 0,
        "idempotency_key": uuid.uuid4().hex,
        "superseded": (*job.superseded, old) if old else job.superseded,
        "progress": None,
    }
    return advance(job, JobState.CLAIMED, now, **{**fresh, **changes})


def update(job: Job, **changes: Any) -> Job:
    """Return the job with some fields changed and its state kept."""
    return dataclasses.replace(job, **changes)


def fingerprint(base_url: str, async_path: str, tier: str, params: Mapping[str, Any]) -> str:
    """Return a short hash of what decides a transcript besides the audio itself."""
    blob = json.dumps([base_url, async_path, tier, dict(params)], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def new_job(rel: str, now: float, profile: str | None = None) -> Job:
    """Return a fresh job for a recording just claimed into processing/, run with the
    settings of ``profile`` (None: the top level's)."""
    job_id = uuid.uuid4().hex
    return Job(
        id=job_id, source=rel, idempotency_key=job_id, steps={"claimed": now}, profile=profile
    )


def audit_fields(job: Job) -> dict[str, Any]:
    """Return the identifiers every audit event of a job carries: job id and source, and the
    sha256 and request id once they are known."""
    fields: dict[str, Any] = {"job_id": job.id, "source": job.source}
    if job.sha256:
        fields["sha256"] = job.sha256
    if job.request_id:
        fields["request_id"] = job.request_id
    return fields


def output_stem(rel: str) -> str:
    """Return the relative path of a recording without its extension: the outbox stem."""
    path = PurePosixPath(rel)
    return str(path.with_suffix("")) if path.suffix else rel


def extension_of(rel: str) -> str:
    """Return the lower-case extension of a relative path, without the dot."""
    return PurePosixPath(rel).suffix.lower().lstrip(".")


def failure_report(job: Job, hint: str | None = None) -> dict[str, Any]:
    """Return the ``<name>.error.json`` content for a failed job (URLs are redacted later);
    ``hint`` replaces the usual advice on what to do."""
    return {
        "job_id": job.id,
        "source": job.source,
        "step": job.failed_step,
        "attempts": job.attempts,
        "error": job.error,
        "request_id": job.request_id,
        "poll_url": job.poll_url,
        "sha256": job.sha256 or None,
        "steps": step_times(job.steps),
        "hint": hint or hint_for(job),
    }


def iso_utc(epoch_seconds: float) -> str:
    """Return a Unix time as ISO 8601 in UTC, to the millisecond, with its zone:
    ``2026-11-30T09:50:00.123Z`` (the form the embedded server answers in)."""
    moment = datetime.fromtimestamp(epoch_seconds, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def step_times(steps: Mapping[str, float]) -> dict[str, str]:
    """Given a job's ``steps`` (state -> epoch seconds), return them in ISO 8601 (iso_utc)."""
    return {state: iso_utc(when) for state, when in steps.items()}


def hint_for(job: Job) -> str:
    """Return what the user can do about a failed job."""
    if job.poll_url and not job.request_over:
        return "run `dropscribe retry JOB_ID` to poll the same request again (no new submission)"
    return "fix the cause above, then run `dropscribe retry JOB_ID` (or drop the file again)"
