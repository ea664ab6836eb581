"""What a job's transitions announce to the outside world, as data the state file stores.

A transition that ends or marks a job (published, failed, refused, reused, incomplete) is
announced by one :class:`Delivery` per configured receiver. The state store writes the
deliveries in the same transaction as the transition, so an announced event is never lost and
never invented: a crash before the commit loses both, a crash after it keeps both. The
decisions here are pure; who the receivers are is the service's (an :data:`Announcer`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from dropscribe.core.jobs import Job, JobState
from dropscribe.core.transcript import RemoteTranscript


class Topic(StrEnum):
    """The event types a receiver may subscribe to (the ``type`` of a webhook's body)."""

    JOB_PUBLISHED = "job.published"  # the transcript is in the outbox
    JOB_FAILED = "job.failed"  # the job ended without a transcript
    FILE_REJECTED = "file.rejected"  # an inbox entry refused at inspection (also job.failed)
    JOB_DUPLICATE = "job.duplicate"  # an earlier transcript of the same content was reused
    TRANSCRIPT_INCOMPLETE = "transcript.incomplete"  # the result misses speech


class Channel(StrEnum):
    """How a delivery reaches its receiver."""

    WEBHOOK = "webhook"  # a signed POST (Standard Webhooks)
    APPRISE = "apprise"  # a short message for people, through Apprise


#: The step name of a refusal at inspection (pipeline.lifecycle.INSPECT; kept in step by a test).
INSPECT_STEP = "inspect"


@dataclass(frozen=True)
class Delivery:
    """One announcement on its way to one receiver, as the state file holds it.

    ``id`` is the webhook-id, the same for every attempt; ``endpoint`` names the receiver by a
    key (never its URL, which may carry credentials); ``body`` is the exact JSON sent.
    """

    id: str
    channel: Channel
    endpoint: str
    topic: Topic
    job_id: str
    body: str
    created: float
    next_due: float
    attempts: int = 0
    last_error: str | None = None


#: Given the state a job was stored in before (None: a new job), the job as it is being
#: stored and the result stored with it (if any), return the deliveries to store with it.
Announcer = Callable[[JobState | None, Job, RemoteTranscript | None], Sequence[Delivery]]


def no_announcements(
    before: JobState | None, job: Job, result: RemoteTranscript | None
) -> Sequence[Delivery]:
    """The announcer of a run without receivers: nothing to deliver."""
    return ()


def topics_of(
    before: JobState | None, job: Job, result: Mapping[str, object] | None, incomplete: bool
) -> list[Topic]:
    """Given a transition (the stored state before, the job after, the result stored with it
    and whether that result is incomplete), return the topics it announces, in order."""
    if before is job.state:
        return []
    if job.state is JobState.PUBLISHED:
        return [Topic.JOB_PUBLISHED]
    if job.state is JobState.FAILED:
        refused = job.failed_step == INSPECT_STEP
        return [Topic.JOB_FAILED, Topic.FILE_REJECTED] if refused else [Topic.JOB_FAILED]
    if job.state is JobState.SUCCEEDED:
        topics = [Topic.JOB_DUPLICATE] if job.result_of else []
        return topics + ([Topic.TRANSCRIPT_INCOMPLETE] if result is not None and incomplete else [])
    return []
