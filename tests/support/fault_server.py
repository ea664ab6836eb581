"""A Tiyaro-compatible test server on loopback with a fault plan the tests script.

It implements the four steps of the Async API instantly (the "transcript" is derived from the
uploaded bytes' sha256, in two segments) and, per step, a queue of faults applied to the next
requests of that step: an HTTP status with headers and body, a connection reset, a hang, a
trickled body, truncated or malformed JSON, a missing field, an unknown poll status, an expired
presigned URL, a job that fails. It records every request (headers included) and counts
submissions per uploaded content, so suites can assert what the client really did::

    with FaultServer(token="t") as srv:
        srv.plan("submit", [Fault.status(503), Fault.status(429, headers={"Retry-After": "1"})])
        client = ApiClient(srv.base_url, srv.async_path, "gpuflex", "t", timeouts)
        ...
        assert srv.submissions_by_sha256() == {sha: 1}

Nothing here sleeps per request: a hang, a trickle or the optional ``latency_seconds`` waits
on the server's stop event, so stopping the server ends them at once; stopping also closes
every open connection.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import random
import secrets
import socket
import struct
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

#: The steps a fault can be planned for; "other" is any request matching no step.
STEPS = ("upload_url", "put", "submit", "poll", "cancel")
#: The async path the server answers submissions on, as the real service names it.
DEFAULT_ASYNC_PATH = "/v1/async/ent/tiyarofs/1/openai/whisper-tiny"
#: Bytes read from an upload per recv, so a large PUT never sits in memory.
_READ_CHUNK = 256 * 1024
#: Seconds between checks of the serve loop for shutdown; bounds how long stop() takes.
_POLL_SECONDS = 0.02
#: Seconds a stopping server waits for each handler thread to end.
_JOIN_SECONDS = 5.0


@dataclass(frozen=True)
class Fault:
    """One injected misbehaviour; build with the class methods."""

    kind: str
    code: int = 0
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None
    interval_seconds: float = 1.0
    text: str = ""

    @classmethod
    def status(
        cls, code: int, headers: Mapping[str, str] | None = None, body: bytes | str | None = None
    ) -> Fault:
        """Answer with ``code`` (and optional headers and body; a JSON error by default)."""
        raw = body.encode() if isinstance(body, str) else body
        return cls("status", code=code, headers=tuple((headers or {}).items()), body=raw)

    @classmethod
    def reset(cls) -> Fault:
        """Read the request, then close the connection with a TCP reset."""
        return cls("reset")

    @classmethod
    def hang(cls) -> Fault:
        """Read the request and never answer, until the server stops."""
        return cls("hang")

    @classmethod
    def trickle(cls, interval_seconds: float = 1.0) -> Fault:
        """Send the headers of a normal-looking answer, then one body byte per interval."""
        return cls("trickle", interval_seconds=interval_seconds)

    @classmethod
    def truncated(cls) -> Fault:
        """Announce a JSON body, send half of it and close the connection."""
        return cls("truncated")

    @classmethod
    def malformed(cls) -> Fault:
        """Answer 200 with a complete body that is not JSON."""
        return cls("malformed")

    @classmethod
    def missing_field(cls) -> Fault:
        """Answer 200 with a JSON object that lacks every field the step promises."""
        return cls("missing_field")

    @classmethod
    def unknown_status(cls, raw_status: str = "Teleporting") -> Fault:
        """On poll: answer with a status the protocol does not name."""
        return cls("unknown_status", text=raw_status)

    @classmethod
    def expired(cls) -> Fault:
        """On PUT: refuse the presigned URL as expired (403, like S3)."""
        return cls("expired")

    @classmethod
    def job_failed(cls, error: str = "injected failure") -> Fault:
        """On poll: the job ends failed with ``error``; later polls say so too."""
        return cls("job_failed", text=error)


@dataclass(frozen=True)
class Recorded:
    """One request as the server received it; ``at`` is a ``time.monotonic()`` reading."""

    method: str
    path: str
    query: str
    step: str
    at: float
    headers: tuple[tuple[str, str], ...]
    body_bytes: int

    def header(self, name: str) -> str | None:
        """Return the first value of header ``name`` (any case), or None."""
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


@dataclass(frozen=True)
class Style:
    """How answers are shaped, to cover each quirk of the documented protocol."""

    upload_key: str = "uploadUrl"  # or the doc's "uplaodUrl"
    envelope: bool = True  # fields under "response" (True) or at the top level
    documented_codes: bool = True  # 201/202 as documented, or 200 everywhere


@dataclass
class _Job:
    request_id: str
    sha256: str
    polls_left: int
    error: str | None = None
    cancelled: bool = False
    polls: int = 0


@dataclass
class _State:
    uploads: dict[str, str | None] = field(default_factory=dict)  # upload id -> sha256
    jobs: dict[str, _Job] = field(default_factory=dict)
    by_key: dict[str, str] = field(default_factory=dict)  # idempotency key -> request id
    faults: dict[str, deque[Fault]] = field(default_factory=lambda: defaultdict(deque))
    records: list[Recorded] = field(default_factory=list)
    submissions: dict[str, int] = field(default_factory=lambda: defaultdict(int))


class FaultServer:
    """The server; a context manager that starts it on a free loopback port and stops it."""

    def __init__(
        self,
        token: str = "test-token",
        presign_secret: str = "test-presign-secret",
        polls_before_success: int = 0,
        style: Style = Style(),
        async_path: str = DEFAULT_ASYNC_PATH,
        presign_ttl_seconds: float = 3600.0,
        latency_seconds: float = 0.0,
    ) -> None:
        self.token = token
        self.presign_secret = presign_secret
        self.polls_before_success = polls_before_success
        self.style = style
        self.async_path = async_path
        self.presign_ttl_seconds = presign_ttl_seconds
        # Seconds every request of a step waits before it is answered (or its fault applied),
        # so that suites can stretch a run and land a kill inside any step.
        self.latency_seconds = latency_seconds
        self.revoked = False
        #: While set, every request of every step is answered with this fault: an outage.
        self.outage: Fault | None = None
        #: Asked per request of a step that has no planned fault; the fault it returns (if
        #: any) is applied: random injection for long runs.
        self.chooser: Callable[[str], Fault | None] | None = None
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._state = _State()
        self._open: dict[socket.socket, threading.Thread] = {}
        self._httpd = _HTTPServer(self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(_POLL_SECONDS,), name="fault-server"
        )

    @property
    def base_url(self) -> str:
        """The server's root, like ``http://127.0.0.1:PORT``."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FaultServer:
        """Start serving in a background thread; return self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """End hangs and trickles, close every connection, stop serving and join threads."""
        self.stopping.set()
        if self._thread.is_alive():
            self._httpd.shutdown()
        with self._lock:
            open_now = dict(self._open)
        for conn in open_now:
            _quietly(lambda c=conn: c.shutdown(socket.SHUT_RDWR))
        for thread in open_now.values():
            thread.join(_JOIN_SECONDS)
        self._httpd.server_close()
        self._thread.join(_JOIN_SECONDS)

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def plan(self, step: str, faults: Iterable[Fault]) -> None:
        """Queue ``faults`` for the next requests of ``step``, one fault per request."""
        if step not in STEPS:
            raise ValueError(f"unknown step {step!r}; expected one of {STEPS}")
        with self._lock:
            self._state.faults[step].extend(faults)

    def pending_faults(self, step: str) -> int:
        """Return how many planned faults of ``step`` have not been applied yet."""
        with self._lock:
            return len(self._state.faults[step])

    def requests(self, step: str | None = None) -> list[Recorded]:
        """Return every recorded request, or those of one step, in arrival order."""
        with self._lock:
            return [r for r in self._state.records if step is None or r.step == step]

    def submissions_by_sha256(self) -> dict[str, int]:
        """Return, per uploaded content's sha256, how many distinct jobs were created for it
        (a re-sent submission with a known Idempotency-Key creates none)."""
        with self._lock:
            return dict(self._state.submissions)

    def submissions_total(self) -> int:
        """Return how many distinct jobs were created."""
        with self._lock:
            return sum(self._state.submissions.values())

    def presign(self, upload_id: str, expires: int) -> str:
        """Return the signature of an upload URL for ``upload_id`` valid until ``expires``."""
        message = f"{upload_id}\n{expires}".encode()
        return hmac.new(self.presign_secret.encode(), message, hashlib.sha256).hexdigest()

    # The handler calls these under no lock; each takes the lock for its own update.

    def _next_fault(self, step: str) -> Fault | None:
        outage, chooser = self.outage, self.chooser
        if outage is not None:
            return outage
        with self._lock:
            queue = self._state.faults[step]
            if queue:
                return queue.popleft()
        return None if chooser is None else chooser(step)

    def _record(self, record: Recorded) -> None:
        with self._lock:
            self._state.records.append(record)

    def _track(self, conn: socket.socket, alive: bool) -> None:
        with self._lock:
            if alive:
                self._open[conn] = threading.current_thread()
            else:
                self._open.pop(conn, None)

    def _new_upload(self) -> str:
        upload_id = secrets.token_hex(8)
        with self._lock:
            self._state.uploads[upload_id] = None
        return upload_id

    def _uploaded(self, upload_id: str, sha256: str) -> bool:
        with self._lock:
            if upload_id not in self._state.uploads:
                return False
            self._state.uploads[upload_id] = sha256
            return True

    def _submit(self, upload_id: str, key: str | None) -> _Job | None:
        with self._lock:
            if key and key in self._state.by_key:
                return self._state.jobs[self._state.by_key[key]]
            sha256 = self._state.uploads.get(upload_id)
            if sha256 is None:
                return None
            job = _Job(secrets.token_hex(8), sha256, self.polls_before_success)
            self._state.jobs[job.request_id] = job
            self._state.submissions[sha256] += 1
            if key:
                self._state.by_key[key] = job.request_id
            return job

    def _poll(self, request_id: str, fault: Fault | None) -> dict[str, Any] | None:
        with self._lock:
            job = self._state.jobs.get(request_id)
            return None if job is None else _poll_fields(job, fault)

    def _cancel(self, request_id: str) -> bool:
        with self._lock:
            job = self._state.jobs.get(request_id)
            if job is not None:
                job.cancelled = True
            return job is not None


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # Many workers connect at once in the scale benchmark; a deep backlog avoids SYN retries.
    request_queue_size = 256

    def __init__(self, owner: FaultServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two sends; with Nagle's algorithm on, every keep-alive answer
    # would wait about 40 ms for the client's delayed ACK.
    disable_nagle_algorithm = True
    server: _HTTPServer

    # -- connection lifecycle --------------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        self.server.owner._track(self.connection, alive=True)

    def finish(self) -> None:
        self.server.owner._track(self.connection, alive=False)
        _quietly(super().finish)

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except ValueError:
            # The base class flushes the response after the handler; a reset fault closed the
            # connection's files on purpose. Anything else is a real error.
            if not self.wfile.closed:
                raise

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the record of requests is the log; stderr stays clean for the tests

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    # -- dispatch --------------------------------------------------------------------------

    @property
    def owner(self) -> FaultServer:
        return self.server.owner

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        step = _step_of(self.command, parts.path, self.owner.async_path)
        at = time.monotonic()
        body, sha256, size = self._read_body(step)
        headers = tuple((k, v) for k, v in self.headers.items())
        self.owner._record(Recorded(self.command, parts.path, parts.query, step, at, headers, size))
        if self.owner.latency_seconds > 0 and self.owner.stopping.wait(self.owner.latency_seconds):
            self.close_connection = True
            return
        fault = self.owner._next_fault(step) if step in STEPS else None
        if fault is not None and self._apply(fault, step):
            return
        if step in ("upload_url", "submit", "poll", "cancel") and not self._authorized():
            self._json(401, {"error": "unauthorized"})
            return
        handlers: dict[str, Callable[..., None]] = {
            "upload_url": self._upload_url,
            "put": self._put,
            "submit": self._submit,
            "poll": self._poll,
            "cancel": self._cancel,
        }
        handler = handlers.get(step)
        if handler is None:
            self._json(404, {"error": "no such endpoint"})
        else:
            handler(parts.path, parse_qs(parts.query), body, sha256, fault)

    def _read_body(self, step: str) -> tuple[bytes, str, int]:
        """Read the request body: a PUT is hashed in pieces, anything else kept (small)."""
        length = int(self.headers.get("Content-Length") or 0)
        digest = hashlib.sha256()
        kept = bytearray()
        left = length
        while left > 0:
            chunk = self.rfile.read(min(left, _READ_CHUNK))
            if not chunk:
                break
            left -= len(chunk)
            digest.update(chunk)
            if step != "put":
                kept += chunk
        return bytes(kept), digest.hexdigest(), length - left

    def _authorized(self) -> bool:
        expected = f"Bearer {self.owner.token}"
        given = self.headers.get("Authorization", "")
        return not self.owner.revoked and hmac.compare_digest(given.encode(), expected.encode())

    # -- faults ----------------------------------------------------------------------------

    def _apply(self, fault: Fault, step: str) -> bool:
        """Apply ``fault``; return True if the request is answered (or abandoned) by it."""
        if fault.kind == "status":
            body = fault.body if fault.body is not None else b'{"error": "injected"}'
            self._send(fault.code, body, dict(fault.headers))
        elif fault.kind == "reset":
            self._reset()
        elif fault.kind == "hang":
            self.owner.stopping.wait()
            self.close_connection = True
        elif fault.kind == "trickle":
            self._trickle(fault.interval_seconds)
        elif fault.kind == "truncated":
            self._truncated()
        elif fault.kind == "malformed":
            self._send(200, b'{"response": {"status": "success",, <html>')
        elif fault.kind == "missing_field":
            self._json(200, {"response": {}} if self.owner.style.envelope else {})
        elif fault.kind == "expired":
            self._send(403, b"<Error><Code>AccessDenied</Code><Message>Request has expired")
        else:
            return False  # unknown_status and job_failed shape a normal poll answer
        return True

    def _reset(self) -> None:
        # SO_LINGER with a zero timeout turns close() into a TCP RST.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        _quietly(self.wfile.close)
        _quietly(self.rfile.close)
        _quietly(self.connection.close)

    def _trickle(self, interval: float) -> None:
        body = json.dumps({"response": {"status": "processing", "pad": "x" * 64}}).encode()
        self.close_connection = True
        self._head(200, len(body), {})
        for byte in body:
            if self.owner.stopping.wait(interval):
                return
            try:
                self.wfile.write(bytes([byte]))
            except OSError:
                return  # the client gave up, as it should

    def _truncated(self) -> None:
        body = json.dumps({"response": {"status": "processing", "id": "x" * 32}}).encode()
        self.close_connection = True
        self._head(200, len(body), {})
        self.wfile.write(body[: len(body) // 2])

    # -- the protocol ----------------------------------------------------------------------

    def _upload_url(self, path: str, query: dict[str, list[str]], *_: Any) -> None:
        extension = (query.get("extension") or ["bin"])[0]
        upload_id = self.owner._new_upload()
        expires = int(time.time() + self.owner.presign_ttl_seconds)
        signature = self.owner.presign(upload_id, expires)
        url = f"{self.owner.base_url}/upload/{upload_id}.{extension}?expires={expires}"
        url += f"&signature={signature}"
        style = self.owner.style
        self._answer(201, {style.upload_key: {"PUT": url}})

    def _put(
        self, path: str, query: dict[str, list[str]], body: bytes, sha256: str, *_: Any
    ) -> None:
        upload_id = path.rsplit("/", 1)[-1].split(".", 1)[0]
        expires = int((query.get("expires") or ["0"])[0] or 0)
        signature = (query.get("signature") or [""])[0]
        good = hmac.compare_digest(signature, self.owner.presign(upload_id, expires))
        if not good or expires < time.time():
            self._send(403, b"<Error><Code>AccessDenied</Code><Message>Request has expired")
        elif "Content-Length" not in self.headers:
            self._json(411, {"error": "length required"})
        elif not self.owner._uploaded(upload_id, sha256):
            self._json(404, {"error": "unknown upload"})
        else:
            self._send(200, b"")

    def _submit(self, path: str, query: dict[str, list[str]], body: bytes, *_: Any) -> None:
        try:
            payload = json.loads(body)
            upload_id = urlsplit(payload["URL"]).path.rsplit("/", 1)[-1].split(".", 1)[0]
        except (ValueError, KeyError, TypeError, AttributeError):
            self._json(400, {"error": "body must be JSON with URL and input"})
            return
        job = self.owner._submit(upload_id, self.headers.get("Idempotency-Key"))
        if job is None:
            self._json(400, {"error": "nothing was uploaded to that URL"})
            return
        fields = {
            "id": job.request_id,
            "status": "accepted",
            "model": "openai/whisper-tiny",
            "urls": {"GET": f"{self.owner.base_url}/v1/async/requests/{job.request_id}"},
        }
        self._answer(202, fields)

    def _poll(self, path: str, _q: Any, _b: Any, _s: Any, fault: Fault | None) -> None:
        fields = self.owner._poll(path.rsplit("/", 1)[-1], fault)
        if fields is None:
            self._json(404, {"error": "no such request"})
        else:
            self._answer(200, fields)

    def _cancel(self, path: str, *_: Any) -> None:
        request_id = path.rsplit("/", 1)[-1]
        if self.owner._cancel(request_id):
            self._answer(200, {"id": request_id, "status": "cancelled"})
        else:
            self._json(404, {"error": "no such request"})

    # -- writing ---------------------------------------------------------------------------

    def _answer(self, documented: int, fields: dict[str, Any]) -> None:
        style = self.owner.style
        code = documented if style.documented_codes else 200
        self._json(code, {"response": fields} if style.envelope else fields)

    def _json(self, code: int, value: Any) -> None:
        self._send(code, json.dumps(value).encode(), {"Content-Type": "application/json"})

    def _send(self, code: int, body: bytes, headers: Mapping[str, str] | None = None) -> None:
        self._head(code, len(body), headers or {})
        self.wfile.write(body)

    def _head(self, code: int, length: int, headers: Mapping[str, str]) -> None:
        self.send_response(code)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(length))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()


def _poll_fields(job: _Job, fault: Fault | None) -> dict[str, Any]:
    """Advance the job by one poll and return its fields, as shaped by a poll fault."""
    base = {
        "id": job.request_id,
        "model": "openai/whisper-tiny",
        "acceptedAt": "2024-01-01T00:00:00Z",
    }
    if fault is not None and fault.kind == "unknown_status":
        return {**base, "status": fault.text}
    if fault is not None and fault.kind == "job_failed":
        job.error = fault.text
    job.polls += 1
    if job.cancelled:
        return {**base, "status": "cancelled"}
    if job.error is not None:
        return {**base, "status": "failed", "error": job.error}
    if job.polls <= job.polls_left:
        return {**base, "status": "processing", "startedAt": "2024-01-01T00:00:01Z"}
    return {
        **base,
        "status": "success",
        "startedAt": "2024-01-01T00:00:01Z",
        "completedAt": "2024-01-01T00:00:02Z",
        "result": transcript_for(job.sha256),
    }


def random_faults(seed: int, bands: Sequence[tuple[float, Fault]]) -> Callable[[str], Fault | None]:
    """Return a :attr:`FaultServer.chooser` that answers each request with the fault of a band
    with that band's probability (shares of all requests, summing to at most 1), drawn from a
    generator seeded with ``seed``; the rest are answered normally."""
    rng = random.Random(seed)
    lock = threading.Lock()

    def choose(step: str) -> Fault | None:
        with lock:  # handler threads draw concurrently
            draw = rng.random()
        for share, fault in bands:
            if draw < share:
                return fault
            draw -= share
        return None

    return choose


#: A flaky service (issue 27): a quarter of requests fail transiently, 15 % with HTTP 503 and
#: 10 % with HTTP 429 asking for a second's wait.
QUARTER_FAILING: tuple[tuple[float, Fault], ...] = (
    (0.15, Fault.status(503)),
    (0.10, Fault.status(429, headers={"Retry-After": "1"})),
)


def transcript_for(sha256: str) -> dict[str, Any]:
    """Return the result the server gives for content with this sha256: text in two segments."""
    first, second = f"transcript of {sha256[:12]}", "second segment."
    return {
        "text": f"{first} {second}",
        "language": "en",
        "segments": [
            {"id": 0, "start": 0.0, "end": 1.5, "text": first},
            {"id": 1, "start": 1.5, "end": 3.25, "text": second},
        ],
    }


def _step_of(method: str, path: str, async_path: str) -> str:
    if method == "POST" and path == "/v1/input/upload-url":
        return "upload_url"
    if method == "PUT" and path.startswith("/upload/"):
        return "put"
    if method == "POST" and path == urlsplit(async_path).path:
        return "submit"
    if path.startswith("/v1/async/requests/"):
        return {"GET": "poll", "DELETE": "cancel"}.get(method, "other")
    return "other"


def _quietly(action: Any) -> None:
    with contextlib.suppress(OSError, ValueError):
        action()
