"""The client of the Tiyaro-style Async API: one method per remote call, no loops, no sleeps.

The four steps (get an upload URL, PUT the recording, submit, poll) and a cancel are each one
method that makes exactly one HTTP request and either returns a parsed value or raises one of
the errors of :mod:`dropscribe.core.errors`; retrying and waiting belong to the pipeline. This
is the only module that imports ``requests``; what the answers mean is decided in
:mod:`dropscribe.api_client.protocol`.

Every call has (connect, read) timeouts and an overall deadline measured with
``time.monotonic()``: the body is read in small pieces with the socket timeout shrunk to the
time left, so a server that trickles a byte every few seconds is cut off at the deadline.

The presigned PUT goes through its own session that never carries the API key, follows no
redirect and streams the file with an explicit ``Content-Length``. The bearer token is only ever
sent to the API's own origin. Messages of raised errors never contain the key or a URL
signature: everything that goes into one passes through a :class:`Redactor`.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlencode, urljoin, urlsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter
from requests.auth import AuthBase

from dropscribe.api_client.protocol import (
    PollResult,
    Submission,
    error_for_status,
    parse_json_object,
    parse_poll,
    parse_retry_after,
    parse_submission,
    parse_upload_url,
    same_origin,
    submit_url,
)
from dropscribe.core.errors import ApiError, InputRejected, TransientApiError
from dropscribe.core.redaction import Redactor

#: Bytes asked of the socket per read of a response body: small enough that the deadline is
#: checked often, large enough that a big transcript costs few reads.
READ_CHUNK_BYTES = 64 * 1024
#: Largest response body accepted, in bytes; more means a broken or hostile server.
MAX_BODY_BYTES = 64 * 1024 * 1024
#: Bytes read from the recording per write to the socket during an upload.
UPLOAD_CHUNK_BYTES = 256 * 1024
#: Connections kept per host and session, so that many workers reuse rather than reconnect.
POOL_CONNECTIONS = 32
#: Characters of a server's error body quoted in an exception message.
DETAIL_CHARS = 200


@dataclass(frozen=True)
class Timeouts:
    """Time limits of one call, in seconds; an upload's deadline also grants
    ``size / upload_min_bytes_per_second`` on top of ``call_deadline_seconds``."""

    connect_seconds: float  # the settings' api section is where the defaults of these live
    read_seconds: float
    call_deadline_seconds: float
    upload_min_bytes_per_second: float = 64 * 1024  # not a setting: a floor for slow links


class _DeadlinePassed(Exception):
    """Raised inside a request (from the upload reader) when the call ran out of time."""


class _Bearer(AuthBase):
    """Sets the bearer token; passing an auth object also keeps ~/.netrc from overriding it."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request


class _NoAuth(AuthBase):
    """Guarantees a request carries no Authorization header, not even one from ~/.netrc."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers.pop("Authorization", None)
        return request


class _DeadlineReader:
    """A read-only view of the first ``size`` bytes of an open file that refuses to go on once
    the deadline passes; ``__len__`` lets requests send it with a Content-Length, in pieces."""

    def __init__(self, handle: BinaryIO, size: int, deadline: float) -> None:
        self._handle = handle
        self._left = size
        self._size = size
        self._deadline = deadline

    def __len__(self) -> int:
        return self._size

    def read(self, amount: int = -1) -> bytes:
        if time.monotonic() >= self._deadline:
            raise _DeadlinePassed
        want = self._left if amount < 0 else min(amount, self._left, UPLOAD_CHUNK_BYTES)
        data = self._handle.read(want) if want > 0 else b""
        if want > 0 and not data:
            raise InputRejected("the recording shrank while it was being uploaded")
        self._left -= len(data)
        return data


class ApiClient:
    """Makes the remote calls of the four-step flow; safe to share between worker threads."""

    def __init__(
        self,
        base_url: str,
        async_path: str,
        service_tier: str,
        api_key: str,
        timeouts: Timeouts,
        user_agent: str = "dropscribe/0.1",
        on_response: Callable[[str, int | None], None] = lambda step, code: None,
    ) -> None:
        """``on_response`` is told the step and HTTP status of every request (None: no
        answer came), for the metrics."""
        self._on_response = on_response
        self._base_url = base_url.rstrip("/")
        self._submit_url = submit_url(self._base_url, async_path, service_tier)
        self._timeouts = timeouts
        self._bearer = _Bearer(api_key)
        self._redactor = Redactor([api_key])
        self._key = api_key
        self._api = _session(user_agent)
        # The presigned PUT gets a session of its own, so no cookie or header of the API
        # session can ever travel to the storage host.
        self._storage = _session(user_agent)

    def for_model(self, async_path: str, service_tier: str) -> ApiClient:
        """Return a client that submits to another model path or tier and shares this one's
        connections (closing either closes both); its key changes with its own use_key."""
        twin = copy.copy(self)
        twin._submit_url = submit_url(self._base_url, async_path, service_tier)
        return twin

    def use_key(self, api_key: str) -> bool:
        """Send ``api_key`` from the next call on; return whether it differs from the key in
        use. The old key stays redacted."""
        if api_key == self._key:
            return False
        self._redactor.add(api_key)
        # One attribute swap: a call in flight keeps the bearer it started with.
        self._bearer = _Bearer(api_key)
        self._key = api_key
        return True

    def get_upload_url(self, extension: str) -> str:
        """Given a file extension, return a fresh presigned URL to PUT the recording to."""
        url = f"{self._base_url}/v1/input/upload-url?" + urlencode(
            {"extension": extension.lstrip(".")}
        )
        body = self._call_json("upload_url", "POST", url, {})
        return self._absolute(parse_upload_url(body), "upload_url")

    def upload(self, url: str, path: Path) -> None:
        """PUT the file at ``path`` to the presigned ``url``, streamed with its Content-Length.
        Raise UploadUrlExpired if the URL is refused, InputRejected if the file shrinks."""
        with path.open("rb") as handle:
            size = path.stat().st_size
            deadline = self._deadline(size / self._timeouts.upload_min_bytes_per_second)
            body = _DeadlineReader(handle, size, deadline)
            self._call("put", "PUT", url, deadline, data=body, auth=_NoAuth())

    def submit(
        self, upload_url: str, params: Mapping[str, Any], idempotency_key: str
    ) -> Submission:
        """Submit the uploaded recording with the model's input parameters; the same
        ``idempotency_key`` lets the service run a re-sent submission only once."""
        payload = {"input": dict(params), "URL": upload_url}
        headers = {"Idempotency-Key": idempotency_key}
        body = self._call_json("submit", "POST", self._submit_url, payload, headers)
        submission = parse_submission(body)
        return Submission(
            request_id=submission.request_id,
            poll_url=self._absolute(submission.poll_url, "submit"),
            status=submission.status,
            model=submission.model,
            raw_status=submission.raw_status,
        )

    def poll(self, poll_url: str) -> PollResult:
        """Return the job's current state as the service reports it at ``poll_url``; its error
        text is redacted, since it is stored and written to the failure report as it is."""
        result = parse_poll(self._call_json("poll", "GET", poll_url))
        if result.error is None:
            return result
        return replace(result, error=self._redactor.text(result.error))

    def cancel(self, poll_url: str) -> None:
        """Ask the service to cancel the job at ``poll_url`` (an extension of our embedded
        server; other services may answer 404 or 405, raised as PermanentApiError)."""
        self._call("cancel", "DELETE", poll_url, self._deadline(0.0), auth=self._auth_for(poll_url))

    def close(self) -> None:
        """Close both sessions and their pooled connections."""
        self._api.close()
        self._storage.close()

    def _call_json(
        self,
        step: str,
        method: str,
        url: str,
        payload: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        deadline = self._deadline(0.0)
        auth = self._auth_for(url)
        body = self._call(step, method, url, deadline, json=payload, headers=headers, auth=auth)
        return parse_json_object(body, step)

    def post_form(
        self,
        url: str,
        fields: Sequence[tuple[str, str]],
        recording: Path,
        deadline_seconds: float,
    ) -> tuple[bytes, str]:
        """POST ``recording`` with ``fields`` as a multipart form (OpenAI's transcription
        request) and return the body and its Content-Type. The call may take
        ``deadline_seconds``, and each read as long: the server answers only when done."""
        deadline = time.monotonic() + deadline_seconds
        timeouts = replace(self._timeouts, read_seconds=deadline_seconds)
        with recording.open("rb") as handle:
            files = {"file": (recording.name, handle, "application/octet-stream")}
            return self._exchange(
                "transcribe", "POST", url, deadline, timeouts,
                data=list(fields), files=files, auth=self._auth_for(url),
            )  # fmt: skip

    def _call(self, step: str, method: str, url: str, deadline: float, **kwargs: Any) -> bytes:
        """Make one request and return its body; every failure is raised as an ApiError."""
        return self._exchange(step, method, url, deadline, self._timeouts, **kwargs)[0]

    def _exchange(
        self, step: str, method: str, url: str, deadline: float, timeouts: Timeouts, **kwargs: Any
    ) -> tuple[bytes, str]:
        """Make one request and return its body and Content-Type; every failure is raised as
        an ApiError."""
        session = self._storage if step == "put" else self._api
        timeout = (timeouts.connect_seconds, _read_timeout(timeouts, deadline))
        try:
            response = session.request(
                method, url, timeout=timeout, stream=True, allow_redirects=False, **kwargs
            )
        except _DeadlinePassed as exc:
            self._on_response(step, None)
            raise TransientApiError(f"{step}: deadline passed during upload", step=step) from exc
        except requests.RequestException as exc:
            self._on_response(step, None)
            raise self._transient(step, method, url, exc) from exc
        self._on_response(step, response.status_code)
        with response:
            body = self._read_body(step, method, url, response, deadline, timeouts)
        error = error_for_status(
            step,
            response.status_code,
            self._redactor.text(body[:DETAIL_CHARS].decode("utf-8", "replace")).strip(),
            parse_retry_after(response.headers.get("Retry-After"), datetime.now(UTC)),
        )
        if error is not None:
            raise error
        return body, response.headers.get("Content-Type", "")

    def _read_body(
        self,
        step: str,
        method: str,
        url: str,
        response: requests.Response,
        deadline: float,
        timeouts: Timeouts,
    ) -> bytes:
        """Read the body in pieces, each read waiting no longer than the time left."""
        raw = response.raw
        sock = getattr(getattr(raw, "connection", None), "sock", None)
        body = bytearray()
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TransientApiError(f"{step}: deadline passed reading the body", step=step)
                if sock is not None:
                    sock.settimeout(min(timeouts.read_seconds, left))
                chunk = raw.read1(READ_CHUNK_BYTES)
                if not chunk:
                    return bytes(body)
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    raise TransientApiError(f"{step}: response body too large", step=step)
        except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as exc:
            raise self._transient(step, method, url, exc) from exc

    def _transient(self, step: str, method: str, url: str, exc: BaseException) -> ApiError:
        reason = self._redactor.text(f"{type(exc).__name__}: {exc}")[:DETAIL_CHARS]
        target = self._redactor.text(f"{method} {url}")
        return TransientApiError(f"{step}: {target} failed: {reason}", step=step)

    def _deadline(self, extra_seconds: float) -> float:
        return time.monotonic() + self._timeouts.call_deadline_seconds + extra_seconds

    def _auth_for(self, url: str) -> AuthBase:
        # The key goes only to the API itself, never to a host a response merely names.
        return self._bearer if same_origin(url, self._base_url) else _NoAuth()

    def _absolute(self, url: str, step: str) -> str:
        """Return a URL the service gave, made absolute; raise TransientApiError (a bad body)
        if it is no http(s) URL with a host, such as ``http://[`` or a port past 65535."""
        try:
            joined = urljoin(self._base_url + "/", url)
            parts = urlsplit(joined)
            usable = parts.scheme in ("http", "https") and bool(parts.hostname)
            parts.port  # noqa: B018 - parsing the port is the check: out of range raises
        except ValueError:
            usable = False
        if not usable:
            raise TransientApiError(f"{step}: the service answered an unusable URL", step=step)
        return joined


def _read_timeout(timeouts: Timeouts, deadline: float) -> float:
    return max(0.001, min(timeouts.read_seconds, deadline - time.monotonic()))


def _session(user_agent: str) -> requests.Session:
    session = requests.Session()
    session.headers["User-Agent"] = user_agent
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=POOL_CONNECTIONS, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
