"""The deadline of one webhook attempt: connecting, sending and the answer's status line and
headers, all together, end within the attempt's timeout.

A socket timeout bounds each read, not the attempt: a receiver that drips its answer a byte a
second never lets one read wait long, and held a sender for as long as it liked. A watchdog
timer shuts the attempt's socket down when its time is up, which ends a read or write blocked
on it in the sender's thread at once. The attempt's connections are handed to the watchdog as
they are made, through urllib's own handlers, so proxies from the environment and TLS keep
working as urllib does them.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import urllib.request
from typing import Any


class AttemptTimeout(TimeoutError):
    """The attempt's deadline passed before the receiver's status came."""


class Watchdog:
    """Cuts the connections of one attempt when ``seconds`` have passed since ``start``."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._lock = threading.Lock()
        self._connections: list[http.client.HTTPConnection] = []
        self._done = False
        self._fired = False
        self._timer = threading.Timer(seconds, self._cut)
        self._timer.daemon = True

    @property
    def fired(self) -> bool:
        """Return True if the deadline passed during the attempt."""
        with self._lock:
            return self._fired

    def start(self) -> None:
        """Start counting."""
        self._timer.start()

    def watch(self, connection: http.client.HTTPConnection) -> None:
        """Cut ``connection`` too at the deadline."""
        with self._lock:
            self._connections.append(connection)

    def check(self) -> None:
        """Raise AttemptTimeout if the deadline has passed (a connect that outlived it)."""
        if self.fired:
            raise AttemptTimeout(f"no answer within {self._seconds:g} s")

    def close(self) -> None:
        """Stop counting and close the attempt's connections (under the lock, so a cut never
        meets a socket closed beneath it)."""
        self._timer.cancel()
        with self._lock:
            self._done = True
            for connection in self._connections:
                connection.close()

    def _cut(self) -> None:
        with self._lock:
            if self._done:
                return
            self._fired = True
            for connection in self._connections:
                if connection.sock is not None:
                    _shut(connection.sock)


def _shut(sock: socket.socket) -> None:
    # Already closed or never connected: nothing is blocked on it, nothing to end.
    with contextlib.suppress(OSError):
        # The plain socket's shutdown, on a TLS socket too: it ends the blocked read with an
        # end of file without unwrapping the TLS object under the reading thread.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def watched_handlers(watchdog: Watchdog) -> list[urllib.request.BaseHandler]:
    """Return urllib handlers for http and https whose connections ``watchdog`` cuts."""
    return [_WatchedHTTP(watchdog), _WatchedHTTPS(watchdog)]


def _watched(base: type[http.client.HTTPConnection], watchdog: Watchdog) -> Any:
    class Watched(base):  # type: ignore[misc,valid-type]
        def connect(self) -> None:
            watchdog.watch(self)
            super().connect()
            watchdog.check()

    return Watched


class _WatchedHTTP(urllib.request.HTTPHandler):
    def __init__(self, watchdog: Watchdog) -> None:
        super().__init__()
        self._connection = _watched(http.client.HTTPConnection, watchdog)

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._connection, req)


class _WatchedHTTPS(urllib.request.HTTPSHandler):
    def __init__(self, watchdog: Watchdog) -> None:
        super().__init__()
        self._connection = _watched(http.client.HTTPSConnection, watchdog)

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(self._connection, req)
