"""A webhook receiver on loopback: records every POST, answers from a scripted list of
statuses (then 200), optionally after a delay, so suites can refuse the first deliveries.

    with WebhookReceiver(statuses=[500, 503]) as receiver:
        ... # the daemon's webhooks point at receiver.url
        receiver.wait_for(3)
        verify(receiver.accepted(), SECRET)

The delay waits on the receiver's stop event, so stopping it ends a slow answer at once.

A hostile receiver (``mode``) records the POST, then answers as no honest one does:
``Mode.ENDLESS_BODY`` answers 200 with a body of ``ENDLESS_BYTES`` streamed as fast as the
reader takes it (``bytes_sent`` counts what the socket accepted), ``Mode.DRIP`` sends its
answer one byte a second, ``Mode.SILENT`` never answers. ``most_at_once`` is the most POSTs of
one ``webhook-id`` that were open at the same time.
"""

from __future__ import annotations

import base64
import json
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

#: A webhook secret for tests, as configured: whsec_ and 32 bytes in base64.
TEST_SECRET = "whsec_" + base64.b64encode(b"dropscribe-test-webhook-secret-32").decode()
#: Seconds between two checks of a wait.
_CHECK_SECONDS = 0.05
#: The body of an endless answer: 400 MB, as a receiver in the field sent (bytes).
ENDLESS_BYTES = 400 * 1024 * 1024
#: One write of an endless body (bytes).
_CHUNK = b"x" * (64 * 1024)
#: What a dripping receiver sends, a byte a second.
_DRIPPED = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"


class Mode(Enum):
    """How the receiver answers."""

    HONEST = "honest"
    ENDLESS_BODY = "endless-body"
    DRIP = "drip"
    SILENT = "silent"


@dataclass(frozen=True)
class Received:
    """One POST as it arrived, and the status it was answered with."""

    path: str
    headers: dict[str, str]
    body: str
    status: int

    @property
    def event(self) -> dict[str, Any]:
        """Return the JSON body."""
        return dict(json.loads(self.body))


class WebhookReceiver:
    """A threaded HTTP server on 127.0.0.1 that records POSTs; see the module docstring."""

    def __init__(
        self, statuses: Iterable[int] = (), delay_seconds: float = 0.0, mode: Mode = Mode.HONEST
    ) -> None:
        self._statuses = deque(statuses)
        self._delay = delay_seconds
        self._mode = mode
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.received: list[Received] = []
        self.bytes_sent = 0
        self.most_at_once = 0
        self._open: dict[str, int] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length).decode()
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver._opened(headers.get("webhook-id", ""), 1)
                try:
                    if receiver._mode is Mode.HONEST:
                        self._answer(body, headers)
                    else:
                        with receiver._lock:
                            receiver.received.append(Received(self.path, headers, body, 0))
                        self._hostile()
                except OSError:
                    pass  # the sender hung up: that is what it should do
                finally:
                    receiver._opened(headers.get("webhook-id", ""), -1)

            def _answer(self, body: str, headers: dict[str, str]) -> None:
                receiver._stopping.wait(receiver._delay)
                status = receiver._next_status()
                with receiver._lock:
                    receiver.received.append(Received(self.path, headers, body, status))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def _hostile(self) -> None:
                if receiver._mode is Mode.SILENT:
                    while self._hold(1.0):
                        pass
                elif receiver._mode is Mode.DRIP:
                    for byte in _DRIPPED:
                        if not self._hold(1.0):
                            return
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                else:
                    self._endless()

            def _hold(self, seconds: float) -> bool:
                """Wait ``seconds``; return False at once if the sender hung up or the
                receiver stops (so an open POST is one a sender still waits on)."""
                deadline = time.monotonic() + seconds
                while time.monotonic() < deadline and not receiver._stopping.is_set():
                    readable, _, _ = select.select([self.connection], [], [], _CHECK_SECONDS)
                    if readable and not self.connection.recv(1, socket.MSG_PEEK):
                        return False
                return not receiver._stopping.is_set()

            def _endless(self) -> None:
                self.send_response(200)
                self.send_header("content-length", str(ENDLESS_BYTES))
                self.end_headers()
                self.wfile.flush()
                while receiver.bytes_sent < ENDLESS_BYTES and not receiver._stopping.is_set():
                    self.wfile.write(_CHUNK)
                    with receiver._lock:
                        receiver.bytes_sent += len(_CHUNK)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,))

    def _opened(self, webhook_id: str, change: int) -> None:
        with self._lock:
            self._open[webhook_id] = self._open.get(webhook_id, 0) + change
            self.most_at_once = max(self.most_at_once, self._open[webhook_id])

    def _next_status(self) -> int:
        with self._lock:
            return self._statuses.popleft() if self._statuses else 200

    def refuse_next(self, statuses: Iterable[int]) -> None:
        """Answer the next POSTs with ``statuses`` (then 200 again)."""
        with self._lock:
            self._statuses.extend(statuses)

    def accept_all(self) -> None:
        """Answer every POST from now on with 200."""
        with self._lock:
            self._statuses.clear()

    @property
    def url(self) -> str:
        """Return the URL the receiver listens on."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/hook"

    def accepted(self) -> list[Received]:
        """Return the POSTs answered with a 2xx, in arrival order."""
        with self._lock:
            return [r for r in self.received if 200 <= r.status < 300]

    def wait_for(self, accepted: int, timeout: float = 20.0) -> list[Received]:
        """Wait until ``accepted`` POSTs were answered 2xx; return them. Raise AssertionError
        naming what arrived if the deadline passes first."""
        deadline = time.monotonic() + timeout
        while len(self.accepted()) < accepted:
            if time.monotonic() > deadline:
                got = [(r.status, r.event["type"]) for r in self.received]
                raise AssertionError(f"{accepted} deliveries expected in {timeout} s; got {got}")
            time.sleep(_CHECK_SECONDS)
        return self.accepted()

    def wait_for_posts(self, posts: int, timeout: float = 20.0) -> list[Received]:
        """Wait until ``posts`` POSTs arrived, whatever they were answered; return them. Raise
        AssertionError if the deadline passes first."""
        deadline = time.monotonic() + timeout
        while len(self.received) < posts:
            if time.monotonic() > deadline:
                raise AssertionError(f"{posts} POSTs expected in {timeout} s")
            time.sleep(_CHECK_SECONDS)
        with self._lock:
            return list(self.received)

    def start(self) -> WebhookReceiver:
        """Start serving; return self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and end slow answers."""
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5.0)

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
