"""The ASGI layer in front of the routes: authenticate first, then let bodies in, bounded.

FastAPI reads and parses a request's body before its dependencies run, so a bearer check in a
dependency came after a 256 MB body had been read (and a malformed one got 400, not 401). This
middleware decides from the headers alone: a request without the right token is answered 401
before a byte of its body is read; a client that keeps failing gets 429 for a while; a JSON
body may hold at most MAX_JSON_BODY_BYTES (an OpenAI-style multipart upload, to
TRANSCRIPTIONS_PATH, the upload limit plus MAX_FORM_FIELDS_BYTES); and each client may hold at most
MAX_LONG_POLLS_PER_CLIENT long polls at once. Presigned uploads (the URL is the credential),
/healthz, /metrics and the API documentation need no token.
"""

from __future__ import annotations

import json
import time
from collections import Counter, deque
from collections.abc import Callable
from typing import Any

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dropscribe.server.api import check_token
from dropscribe.server.problems import ApiProblem

#: Largest body of a JSON request, in bytes: a submit with a 2,000-character prompt, escaped.
MAX_JSON_BODY_BYTES = 32 * 1024

#: Bytes a multipart upload may carry beside the recording: its other fields and boundaries.
MAX_FORM_FIELDS_BYTES = 64 * 1024

#: Path of OpenAI's transcription endpoint, whose body is a recording, not JSON.
TRANSCRIPTIONS_PATH = "/v1/audio/transcriptions"

#: Failed authentications a client may make per FAILURE_WINDOW_SECONDS before it gets 429.
MAX_AUTH_FAILURES = 10

#: Seconds over which authentication failures are counted, and a blocked client waits.
FAILURE_WINDOW_SECONDS = 60.0

#: Long polls (``?wait=``) one client may hold at once; the daemon needs one per poll worker.
MAX_LONG_POLLS_PER_CLIENT = 16

#: Client addresses whose failures are remembered; the oldest are forgotten beyond this.
MAX_TRACKED_CLIENTS = 10_000

#: Paths of the API documentation: Swagger UI, the OpenAPI description, ReDoc.
DOCS_PATHS = ("/docs", "/openapi.json", "/redoc")

#: Paths served without a bearer token: health, metrics and the documentation (besides the
#: presigned upload URLs, whose signature is their credential).
OPEN_PATHS = ("/healthz", "/metrics", *DOCS_PATHS)
UPLOAD_PREFIX = "/v1/input/uploads/"


class FailureLimiter:
    """Counts authentication failures per client in a sliding window (clock injected)."""

    def __init__(
        self,
        limit: int = MAX_AUTH_FAILURES,
        window: float = FAILURE_WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = limit
        self._window = window
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def blocked(self, client: str) -> float:
        """Return the seconds ``client`` must wait before trying again (0: not blocked)."""
        times = self._recent(client)
        if len(times) < self._limit:
            return 0.0
        return max(0.0, times[0] + self._window - self._clock())

    def record(self, client: str) -> None:
        """Count one failed authentication from ``client``."""
        if client not in self._failures and len(self._failures) >= MAX_TRACKED_CLIENTS:
            self._failures.pop(next(iter(self._failures)))
        self._recent(client).append(self._clock())

    def _recent(self, client: str) -> deque[float]:
        times = self._failures.setdefault(client, deque(maxlen=self._limit))
        while times and times[0] + self._window <= self._clock():
            times.popleft()
        return times


def needs_token(method: str, path: str) -> bool:
    """Return True unless the request is to an open path or a presigned upload PUT."""
    if path in OPEN_PATHS:
        return False
    return not (method == "PUT" and path.startswith(UPLOAD_PREFIX))


def is_long_poll(method: str, query_string: bytes) -> bool:
    """Return True for a GET carrying a non-zero ``wait`` (the long-poll extension)."""
    if method != "GET":
        return False
    for pair in query_string.decode("latin-1").split("&"):
        name, _, value = pair.partition("=")
        if name == "wait" and value not in ("", "0", "0.0"):
            return True
    return False


class RequestGuard:
    """ASGI middleware: authentication, body limits and long-poll limits (see module doc)."""

    def __init__(
        self, app: ASGIApp, token: str, failures: FailureLimiter, max_upload_bytes: int
    ) -> None:
        self._app = app
        self._max_form_bytes = max_upload_bytes + MAX_FORM_FIELDS_BYTES
        self._token = token
        self._failures = failures
        self._long_polls: Counter[str] = Counter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not needs_token(scope["method"], scope["path"]):
            await self._app(scope, receive, send)
            return
        client = scope["client"][0] if scope.get("client") else ""
        refusal = self._refusal(client, _header(scope, b"authorization"))
        limit = self._body_limit(scope["path"])
        if refusal is None:
            refusal = _oversized(_header(scope, b"content-length"), limit)
        if refusal is not None:
            await _answer(send, *refusal)
            return
        if is_long_poll(scope["method"], scope["query_string"]):
            await self._long_poll(client, scope, receive, send)
            return
        await self._app(scope, _capped(receive, limit), send)

    def _body_limit(self, path: str) -> int:
        return self._max_form_bytes if path == TRANSCRIPTIONS_PATH else MAX_JSON_BODY_BYTES

    def _refusal(
        self, client: str, authorization: str | None
    ) -> tuple[int, str, dict[str, str]] | None:
        wait = self._failures.blocked(client)
        if wait > 0:
            message = "too many failed authentications from this address; try again later"
            return 429, message, {"Retry-After": str(int(wait) + 1)}
        try:
            check_token(self._token, authorization)
        except ApiProblem as problem:
            self._failures.record(client)
            return problem.status, problem.message, {"WWW-Authenticate": "Bearer"}
        return None

    async def _long_poll(self, client: str, scope: Scope, receive: Receive, send: Send) -> None:
        if self._long_polls[client] >= MAX_LONG_POLLS_PER_CLIENT:
            message = f"at most {MAX_LONG_POLLS_PER_CLIENT} long polls at a time per client"
            await _answer(send, 429, message, {"Retry-After": "1"})
            return
        self._long_polls[client] += 1
        try:
            await self._app(scope, _capped(receive, MAX_JSON_BODY_BYTES), send)
        finally:
            self._long_polls[client] -= 1
            if self._long_polls[client] <= 0:
                del self._long_polls[client]


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def _oversized(length: str | None, limit: int) -> tuple[int, str, dict[str, str]] | None:
    if length is not None and length.isdigit() and int(length) > limit:
        return 413, f"request body is larger than {limit} bytes", {}
    return None


def _capped(receive: Receive, limit: int) -> Receive:
    """Return ``receive`` refusing (413) a body that grows past ``limit`` bytes, for a
    chunked body that announced no length."""
    seen = 0

    async def capped() -> Message:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise HTTPException(413, f"request body is larger than {limit} bytes")
        return message

    return capped


async def _answer(send: Send, status: int, message: str, headers: dict[str, str]) -> None:
    body = json.dumps({"error": message}).encode()
    raw: list[Any] = [
        (b"content-type", b"application/json"),
        (b"content-length", b"%d" % len(body)),
    ]
    raw += [(key.lower().encode(), value.encode()) for key, value in headers.items()]
    # Connection: close, so a client that sent a body we never read cannot desync the stream.
    raw.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
