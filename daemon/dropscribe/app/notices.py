"""The webhook and Apprise receivers, built from the settings, and the delivery worker's
reports turned into audit events.

Secrets are read here (config.webhook_secret) and handed to the redactor at once, together with
any password in a receiver's URL, so that neither can appear in a log line.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dropscribe.audit import Event
from dropscribe.config import Notify, ProfileNotify, Settings, webhook_secret
from dropscribe.core.announcements import Announcer, Channel, Delivery, Topic
from dropscribe.core.jobs import Job, JobState, iso_utc
from dropscribe.core.redaction import Redactor
from dropscribe.core.transcript import RemoteTranscript
from dropscribe.core.transcript_fields import remote_transcript
from dropscribe.notifications import Attempt, DeliveryPolicy, Outcome, Receiver
from dropscribe.pipeline import quality
from dropscribe.pipeline.ports import Audit


def receivers_of(
    notify: Notify | ProfileNotify,
    source: Path,
    redactor: Redactor,
    profile: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[Receiver]:
    """Return the receivers of one notify section (the top level's, or a profile's); their
    secrets and URL passwords are added to ``redactor``. Raise ConfigError if a secret
    cannot be read."""
    receivers: list[Receiver] = []
    for hook in notify.webhooks:
        secret = webhook_secret(hook, source, environ)
        source_name = f"env:{hook.secret_env}" if hook.secret_env else f"file:{hook.secret_file}"
        receivers.append(
            Receiver(
                Channel.WEBHOOK, hook.url, frozenset(hook.events), secret, source_name, profile
            )
        )
    # A message for people goes out for every event; they have no subscription list.
    receivers += [
        Receiver(Channel.APPRISE, url, frozenset(Topic), profile=profile) for url in notify.apprise
    ]
    for receiver in receivers:
        _hide_secrets(receiver, redactor)
    return receivers


def settings_receivers(settings: Settings, redactor: Redactor) -> list[Receiver]:
    """Return every receiver the settings name: the top level's, and each profile's (for
    the recordings of that profile only)."""
    source = settings.source or Path("config")
    receivers = receivers_of(settings.notify, source, redactor)
    for profile in settings.profiles:
        receivers += receivers_of(profile.notify, source, redactor, profile.name)
    return receivers


def _hide_secrets(receiver: Receiver, redactor: Redactor) -> None:
    if receiver.secret:
        # The secret as configured (whsec_<base64>) contains its base64 form.
        redactor.add(base64.b64encode(receiver.secret).decode())
    parts = urlsplit(receiver.url)
    redactor.add(parts.password)
    if receiver.channel is Channel.APPRISE:
        # An Apprise URL carries its token in the user, password or path; the whole URL is
        # masked wherever it would appear, and logs show display_url's form.
        redactor.add(receiver.url)


def waking(announce: Announcer, wake: threading.Event) -> Announcer:
    """Return ``announce`` that also sets ``wake`` when it writes deliveries (the senders
    take them once the transition is committed: the store's lock holds them until then)."""

    def announced(
        before: JobState | None, job: Job, result: RemoteTranscript | None
    ) -> Sequence[Delivery]:
        deliveries = announce(before, job, result)
        if deliveries:
            wake.set()
        return deliveries

    return announced


def delivery_policy(notify: Notify) -> DeliveryPolicy:
    """Return the deliveries' retry timing from the notify section."""
    return DeliveryPolicy(
        first_seconds=notify.first_retry_seconds,
        max_seconds=notify.max_retry_seconds,
        give_up_seconds=notify.give_up_hours * 3600.0,
        timeout_seconds=notify.timeout_seconds,
    )


def shortfall(result: Mapping[str, object]) -> str | None:
    """Return what an incomplete result misses, or None for a complete one. The announcer
    (dropscribe.notifications) hands the stored result over as a plain mapping: it is
    checked into a RemoteTranscript again, which leaves a stored result as it is."""
    checked = remote_transcript(result)
    return quality.describe_shortfall(checked) if quality.is_incomplete(checked) else None


def attempt_reporter(log: Audit, count: Callable[[str], None]) -> Callable[[Attempt], None]:
    """Return the delivery worker's report: one audit event per attempt, and ``count`` told
    its outcome (the metrics)."""

    def report(attempt: Attempt) -> None:
        d = attempt.delivery
        fields: dict[str, Any] = {
            "delivery_id": d.id,
            "job_id": d.job_id,
            "topic": d.topic.value,
            "channel": d.channel.value,
            "url": attempt.url,
            "attempt": attempt.attempt,
            "status": attempt.status,
        }
        count(attempt.outcome.value)
        if attempt.outcome is Outcome.DELIVERED:
            log.info(Event.DELIVERY_SENT, **fields)
        elif attempt.outcome is Outcome.RETRY:
            log.warning(
                Event.DELIVERY_RETRY, **fields, error=attempt.error, next_attempt=_iso(attempt)
            )
        else:
            log.error(Event.DELIVERY_ABANDONED, **fields, error=attempt.error)

    return report


def _iso(attempt: Attempt) -> str | None:
    return None if attempt.next_due is None else iso_utc(attempt.next_due)
