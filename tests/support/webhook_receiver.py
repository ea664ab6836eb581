"""A webhook receiver on loopback: records every POST, answers from a scripted list of
statuses (then 200), optionally after a delay, so suites can refuse the first deliveries.

    with WebhookReceiver(statuses=[500, 503]) as receiver:
        ... # the daemon's webhooks point at receiver.url
        receiver.wait_for(3)
        verify(receiver.accepted(), SECRET)

The delay waits on the receiver's stop event, so stopping it ends a slow answer at once.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

#: A webhook secret for tests, as configured: whsec_ and 32 bytes in base64.
TEST_SECRET = "whsec_" + base64.b64encode(b"dropscribe-test-webhook-secret-32").decode()
#: Seconds between two checks of a wait.
_CHECK_SECONDS = 0.05


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

    def __init__(self, statuses: Iterable[int] = (), delay_seconds: float = 0.0) -> None:
        self._statuses = deque(statuses)
        self._delay = delay_seconds
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.received: list[Received] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                body = self.rfile.read(length).decode()
                receiver._stopping.wait(receiver._delay)
                status = receiver._next_status()
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver._lock:
                    receiver.received.append(Received(self.path, headers, body, status))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,))

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
