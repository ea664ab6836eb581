"""The Async API's wire protocol as pure functions: statuses, URLs, answers, HTTP errors.

Nothing here makes a request: the client hands over bodies, statuses and headers, and gets back
parsed values or the error of :mod:`dropscribe.core.errors` each one means. The service puts its
fields at the top level or under ``response``, and misspells a few; the parsers accept both.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from dropscribe.core.errors import (
    ApiError,
    AuthError,
    PermanentApiError,
    TransientApiError,
    UploadUrlExpired,
)
from dropscribe.core.transcript import RemoteTranscript
from dropscribe.core.transcript_fields import remote_transcript

# Statuses after which the same request may well succeed later.
_TRANSIENT_STATUSES = frozenset({408, 425, 429})


class RemoteStatus(StrEnum):
    """The state of a remote job as the service reports it; UNKNOWN for anything unforeseen."""

    ACCEPTED = "accepted"
    PENDING = "pending"
    PROCESSING = "processing"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Submission:
    """What the service answered to a submit: the job's id and the URL to poll it."""

    request_id: str
    poll_url: str
    status: RemoteStatus
    model: str | None
    raw_status: str


@dataclass(frozen=True)
class PollProgress:
    """A running job's progress in a poll answer (an extension of the protocol, see the
    README): seconds of audio done, and in all (None when the service does not say)."""

    done_seconds: float
    total_seconds: float | None


@dataclass(frozen=True)
class PollResult:
    """One poll's answer; ``result`` is set on success, ``error`` when the job failed,
    ``progress`` while a long job runs and its service reports how far it is."""

    status: RemoteStatus
    raw_status: str
    result: RemoteTranscript | None
    error: str | None
    model: str | None
    accepted_at: str | None
    started_at: str | None
    completed_at: str | None
    progress: PollProgress | None = None


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Given a Retry-After header value and the current time, return the wait it asks for in
    seconds (never negative), or None if there is no usable value. Both forms are understood:
    delay-seconds and an HTTP-date; a date in the past means no wait."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        return _seconds_until_http_date(text, now)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _seconds_until_http_date(text: str, now: datetime) -> float | None:
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def parse_status(raw: object) -> tuple[RemoteStatus, str]:
    """Given a status field's value, return the status it names (UNKNOWN if none) and the
    value as text, kept for the audit trail."""
    text = str(raw)
    try:
        return RemoteStatus(text.strip().lower()), text
    except ValueError:
        return RemoteStatus.UNKNOWN, text


def submit_url(base_url: str, async_path: str, service_tier: str) -> str:
    """Given the API's base URL, the model's async path (which may carry a query already) and
    the service tier, return the URL to POST a submission to, with exactly one serviceTier."""
    parts = urlsplit(urljoin(base_url.rstrip("/") + "/", async_path.lstrip("/")))
    query = [
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "serviceTier"
    ]
    query.append(("serviceTier", service_tier))
    return urlunsplit(parts._replace(query=urlencode(query)))


def same_origin(url: str, other: str) -> bool:
    """Return True if both URLs have the same scheme, host and port."""
    a, b = urlsplit(url), urlsplit(other)
    return (a.scheme.lower(), a.hostname, _port(a.scheme, a.port)) == (
        b.scheme.lower(),
        b.hostname,
        _port(b.scheme, b.port),
    )


def _port(scheme: str, port: int | None) -> int | None:
    return port if port is not None else {"http": 80, "https": 443}.get(scheme.lower())


def error_for_status(
    step: str, status: int, detail: str, retry_after: float | None
) -> ApiError | None:
    """Given the step, an HTTP status, the (redacted) body text and the parsed Retry-After,
    return the error that status means, or None for a success. The step ``put`` is the
    presigned upload, where a refusal means the URL is no longer good."""
    message = f"{step}: HTTP {status}" + (f": {detail}" if detail else "")
    if 200 <= status < 300:
        return None
    if step == "put" and (status in (401, 403) or (status == 400 and "expir" in detail.lower())):
        return UploadUrlExpired(message, status=status, step=step, retry_after=retry_after)
    if status in _TRANSIENT_STATUSES or status >= 500:
        return TransientApiError(message, status=status, step=step, retry_after=retry_after)
    if status in (401, 403):
        return AuthError(message, status=status, step=step)
    if 300 <= status < 400:
        return PermanentApiError(f"{message} (redirect not followed)", status=status, step=step)
    return PermanentApiError(message, status=status, step=step)


def parse_json_object(body: bytes, step: str) -> dict[str, Any]:
    """Given a response body, return it as a JSON object. Raise TransientApiError if it is
    truncated, malformed or not an object."""
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise TransientApiError(f"{step}: response is not valid JSON", step=step) from exc
    if not isinstance(value, dict):
        raise TransientApiError(f"{step}: response is not a JSON object", step=step)
    return value


def _layers(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The body and each object nested under ``response``, innermost first: the service puts
    its fields at either level."""
    layers = [body]
    while isinstance(layers[-1].get("response"), Mapping) and len(layers) < 4:
        layers.append(layers[-1]["response"])
    return layers[::-1]


def _field(body: Mapping[str, Any], *names: str) -> Any:
    for layer in _layers(body):
        for name in names:
            if layer.get(name) is not None:
                return layer[name]
    return None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _required(value: Any, step: str, name: str) -> str:
    if not isinstance(value, str | int) or not str(value):
        raise TransientApiError(f"{step}: response lacks {name}", step=step)
    return str(value)


def parse_upload_url(body: Mapping[str, Any]) -> str:
    """Given the upload-url answer, return the presigned PUT URL (``uploadUrl`` or the doc's
    ``uplaodUrl``, an object with ``PUT`` or the URL itself). Raise TransientApiError if none."""
    value = _field(body, "uploadUrl", "uplaodUrl", "uploadURL")
    if isinstance(value, Mapping):
        value = value.get("PUT", value.get("put"))
    return _required(value, "upload_url", "uploadUrl.PUT")


def parse_submission(body: Mapping[str, Any]) -> Submission:
    """Given the submit answer, return the Submission. Raise TransientApiError if the id or
    the poll URL is missing."""
    urls = _field(body, "urls")
    poll = urls.get("GET", urls.get("get")) if isinstance(urls, Mapping) else None
    raw = _field(body, "status")
    status, raw_status = parse_status(raw) if raw is not None else (RemoteStatus.ACCEPTED, "")
    return Submission(
        request_id=_required(_field(body, "id", "requestId"), "submit", "id"),
        poll_url=_required(poll, "submit", "urls.GET"),
        status=status,
        model=_text(_field(body, "model")),
        raw_status=raw_status,
    )


def parse_poll(body: Mapping[str, Any]) -> PollResult:
    """Given a poll answer, return the PollResult; a failed or cancelled job is a result, not an
    error. Raise TransientApiError if the status is missing or a success carries no result."""
    status, raw_status = parse_status(_required(_field(body, "status"), "poll", "status"))
    result = _transcript(_field(body, "result"))
    if status is RemoteStatus.SUCCESS and result is None:
        raise TransientApiError("poll: success without a result", step="poll")
    error = _field(body, "error", "message", "reason", "detail")
    return PollResult(
        status=status,
        raw_status=raw_status,
        result=result,
        error=error if error is None or isinstance(error, str) else json.dumps(error),
        model=_text(_field(body, "model")),
        accepted_at=_text(_field(body, "acceptedAt")),
        started_at=_text(_field(body, "startedAt")),
        completed_at=_text(_field(body, "completedAt")),
        progress=parse_progress(_field(body, "progress")),
    )


def parse_progress(value: object) -> PollProgress | None:
    """Given a poll answer's ``progress`` field, return it, or None when it is missing or
    unusable: an extension is read tolerantly, never an error. Seconds done must be a finite
    number, not negative; a total that is not a positive finite number is unknown (None);
    seconds done are clamped to the total."""
    if not isinstance(value, Mapping):
        return None
    done = _seconds(value.get("audioSecondsDone"))
    if done is None:
        return None
    total = _seconds(value.get("audioSecondsTotal"))
    if total is None or total <= 0:
        return PollProgress(done, None)
    return PollProgress(min(done, total), total)


def _seconds(value: object) -> float | None:
    """A finite, non-negative number as float; None for anything else (bools included)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        seconds = float(value)
    except OverflowError:  # an integer too large for a float
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _transcript(value: object) -> RemoteTranscript | None:
    """The result as a RemoteTranscript (its known keys checked: see
    :func:`~dropscribe.core.transcript_fields.remote_transcript`), decoded first when the
    service sent it as JSON text; None when it is not a JSON object."""
    if isinstance(value, str):
        value = _json_or_none(value)
    return remote_transcript(value) if isinstance(value, dict) else None


def _json_or_none(text: str) -> object:
    try:
        return json.loads(text)
    except ValueError:
        return None
