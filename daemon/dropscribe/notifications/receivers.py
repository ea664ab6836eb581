"""Who is told what: the receivers, and the deliveries a job's transition writes for them.

A receiver is named in the state file by a key derived from its channel, URL and secret
source, never by its URL (which may carry credentials). Reloading the configuration replaces
the receivers; a stored delivery whose receiver is gone is abandoned by the worker.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from dropscribe.core.announcements import Announcer, Channel, Delivery, Topic, topics_of
from dropscribe.core.jobs import Job, JobState, iso_utc
from dropscribe.core.redaction import MASK, redact_url

#: How long a key is: 16 hex digits of sha256 tell thousands of receivers apart.
KEY_DIGITS = 16


@dataclass(frozen=True)
class Receiver:
    """One place deliveries go: a webhook URL with its decoded secret, or an Apprise URL.

    ``profile`` is the folder profile it belongs to (None: every recording).
    """

    channel: Channel
    url: str
    topics: frozenset[Topic]
    secret: bytes = b""
    secret_source: str = ""
    profile: str | None = None

    @property
    def key(self) -> str:
        """Return the name of this receiver in the state file."""
        blob = json.dumps([self.channel.value, self.url, self.secret_source, self.profile])
        return hashlib.sha256(blob.encode()).hexdigest()[:KEY_DIGITS]


class Receivers:
    """The receivers in force; replaced as a whole on reload. Safe to share between threads."""

    def __init__(self, receivers: Iterable[Receiver]) -> None:
        self._lock = threading.Lock()
        self._by_key = {r.key: r for r in receivers}

    def replace(self, receivers: Iterable[Receiver]) -> None:
        """Put a new set of receivers in force."""
        by_key = {r.key: r for r in receivers}
        with self._lock:
            self._by_key = by_key

    def get(self, key: str) -> Receiver | None:
        """Return the receiver with this key, or None if it is no longer configured."""
        with self._lock:
            return self._by_key.get(key)

    def all(self) -> list[Receiver]:
        """Return every receiver in force."""
        with self._lock:
            return list(self._by_key.values())


def display_url(url: str) -> str:
    """Return ``url`` fit for a log line: user and password, and signature-like query
    parameters, masked."""
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        netloc = f"{MASK}@{host}" + (f":{parts.port}" if parts.port else "")
        parts = parts._replace(netloc=netloc)
    return redact_url(urlunsplit(parts))


def announcer(
    receivers: Receivers,
    outbox: Path,
    profile_of: Callable[[Job], str | None],
    shortfall: Callable[[Mapping[str, Any]], str | None],
    now: Callable[[], float],
    new_id: Callable[[], str] = lambda: f"msg_{uuid.uuid4().hex}",
) -> Announcer:
    """Return the state store's announcer: for a transition, one delivery per receiver that
    subscribed to each topic it announces (global receivers, and those of the job's
    profile). ``outbox`` makes output paths relative; ``shortfall`` says what an incomplete
    result misses (None for a complete one)."""

    def announce(
        before: JobState | None, job: Job, result: Mapping[str, Any] | None
    ) -> Sequence[Delivery]:
        missing = None if result is None else shortfall(result)
        topics = topics_of(before, job, result, missing is not None)
        if not topics:
            return ()
        profile = profile_of(job)
        at = now()
        deliveries: list[Delivery] = []
        for topic in topics:
            data = event_data(job, profile, outbox, topic, missing)
            body = json.dumps({"type": topic.value, "timestamp": iso_utc(at), "data": data})
            for receiver in receivers.all():
                if topic in receiver.topics and receiver.profile in (None, profile):
                    deliveries.append(
                        Delivery(
                            new_id(), receiver.channel, receiver.key, topic, job.id, body, at, at
                        )
                    )
        return deliveries

    return announce


def event_data(
    job: Job, profile: str | None, outbox: Path, topic: Topic, missing: str | None
) -> dict[str, Any]:
    """Return the ``data`` of an event about ``job``: ids, the source relative to the inbox,
    the outputs relative to the outbox, and the reason where there is one (``missing``: what
    an incomplete transcript lacks)."""
    data: dict[str, Any] = {
        "job_id": job.id,
        "source": job.source,
        "profile": profile,
        "sha256": job.sha256 or None,
        "request_id": job.request_id,
        "model": job.model,
        "outputs": [relative_output(p, outbox) for p in job.outputs],
        "error": job.error,
    }
    if topic is Topic.JOB_DUPLICATE:
        data["reused_job_id"] = job.result_of
    if topic is Topic.TRANSCRIPT_INCOMPLETE:
        data["error"] = missing
    return data


def relative_output(path: str, outbox: Path) -> str:
    """Return an output's path relative to the outbox (as it is if outside it)."""
    try:
        return Path(path).relative_to(outbox).as_posix()
    except ValueError:
        return path
