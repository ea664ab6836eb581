"""Connection limits for uvicorn's h11 protocol: slow clients and connection floods.

uvicorn times out idle keep-alive connections only. A client that opens a connection and never
finishes its headers (slowloris) holds a file descriptor for ever; 1,100 of them exhausted the
default limit of 1,024 and kept every legitimate client out. So each connection here must
finish its headers within HEADER_TIMEOUT_SECONDS, a body may not stall for longer than
BODY_IDLE_SECONDS, each client address may hold at most ``per_client`` connections, and the
server at most ``total`` (below the file limit, so accept() itself never fails). Refusals are
logged once per condition and interval, never once per connection.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger(__name__)

#: Seconds a connection has to send its request line and headers, from its first byte.
HEADER_TIMEOUT_SECONDS = 10.0

#: Seconds a request body may go without a byte arriving before the connection is closed.
BODY_IDLE_SECONDS = 60.0

#: Connections one client address may hold at once; the daemon needs a few per worker.
MAX_CONNECTIONS_PER_CLIENT = 64

#: Most connections in all, unless the file limit is lower (see connection_budget); an idle
#: connection costs a few kB, so 4,000 slow ones cost tens of MB, not the service.
MAX_CONNECTIONS = 4000

#: File descriptors kept for everything but connections: uploads, the database, the model.
FD_RESERVE = 128

#: Seconds during which a repeated log condition is counted instead of logged again.
LOG_INTERVAL_SECONDS = 60.0


def connection_budget(soft_file_limit: int, wanted: int = MAX_CONNECTIONS) -> int:
    """Return how many connections fit under the file limit, keeping FD_RESERVE free."""
    return max(1, min(wanted, soft_file_limit - FD_RESERVE))


def raise_file_limit() -> int:
    """Raise this process's soft file limit to its hard limit; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return hard
    return soft


class OncePerInterval(logging.Filter):
    """Let the first record of each message through per interval; count the rest, and say
    how many were held back when the message next passes. The traceback of an OSError is cut
    to one line: those (EMFILE on accept, a peer resetting) are expected under attack, and a
    traceback per accept is what filled the disk."""

    def __init__(
        self, interval: float = LOG_INTERVAL_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self._interval = interval
        self._clock = clock
        self._last: dict[str, float] = {}
        self._held: Counter[str] = Counter()

    def filter(self, record: logging.LogRecord) -> bool:
        """Return True to log the record, False to count it as a repeat."""
        key = f"{record.name}:{record.msg}"
        now = self._clock()
        if now - self._last.get(key, -self._interval) < self._interval:
            self._held[key] += 1
            return False
        self._last[key] = now
        held = self._held.pop(key, 0)
        if held:
            record.msg = f"{record.msg} ({held} more like this in the last interval)"
        if record.exc_info and isinstance(record.exc_info[1], OSError):
            error = record.exc_info[1]
            record.msg = f"{record.msg} ({type(error).__name__}: {error})"
            record.exc_info = None
        return True


@dataclass
class ConnectionCounts:
    """Open connections, in all and per client address; shared by every protocol instance."""

    total_limit: int
    per_client_limit: int
    total: int = 0

    def __post_init__(self) -> None:
        self.per_client: Counter[str] = Counter()

    def admit(self, client: str) -> str | None:
        """Count a new connection from ``client``; return why it is refused, or None."""
        if self.total >= self.total_limit:
            return "refusing connections: the server holds its maximum"
        if self.per_client[client] >= self.per_client_limit:
            return "refusing connections from one client holding its maximum"
        self.total += 1
        self.per_client[client] += 1
        return None

    def release(self, client: str) -> None:
        """Forget a connection that ``admit`` counted."""
        self.total -= 1
        self.per_client[client] -= 1
        if self.per_client[client] <= 0:
            del self.per_client[client]


def guarded_protocol(counts: ConnectionCounts) -> type[H11Protocol]:
    """Return uvicorn's h11 protocol class bound to ``counts``, with read timeouts."""

    class GuardedH11Protocol(H11Protocol):
        _timer: asyncio.TimerHandle | None = None
        _counted: str | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            peer = self.client[0] if self.client else ""
            refused = counts.admit(peer)
            if refused is not None:
                log.warning("%s; closing new connections at once", refused)
                transport.abort()
                return
            self._counted = peer
            self._arm(HEADER_TIMEOUT_SECONDS)

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            if self._counted is not None:
                counts.release(self._counted)
                self._counted = None
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            state = self.conn.their_state
            if state is h11.SEND_BODY:
                self._arm(BODY_IDLE_SECONDS)  # reset on every byte: an idle, not a total
            elif state is h11.IDLE and self._timer is None and not self.transport.is_closing():
                self._arm(HEADER_TIMEOUT_SECONDS)  # the next request on a kept-alive connection
            elif state is not h11.IDLE:
                self._disarm()

        def on_response_complete(self) -> None:
            self._disarm()  # uvicorn's keep-alive timeout covers the wait for the next request
            super().on_response_complete()

        def _arm(self, seconds: float) -> None:
            self._disarm()
            self._timer = self.loop.call_later(seconds, self._expire)

        def _disarm(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def _expire(self) -> None:
            self._timer = None
            log.warning("closing connections that sent no complete request in time")
            self.transport.close()

    return GuardedH11Protocol


def install_log_limits(names: tuple[str, ...]) -> Callable[[], None]:
    """Put a OncePerInterval filter on the named loggers; return a function removing it."""
    limiter = OncePerInterval()
    loggers = [logging.getLogger(name) for name in names]
    for logger in loggers:
        logger.addFilter(limiter)

    def remove() -> None:
        for logger in loggers:
            logger.removeFilter(limiter)

    return remove


def protocol_options(counts: ConnectionCounts) -> dict[str, Any]:
    """Return the uvicorn.Config arguments that enforce these limits."""
    return {
        "http": guarded_protocol(counts),
        # A second line behind the connection cap: uvicorn answers 503 once its connections
        # or tasks reach this, which the cap above keeps from happening to admitted clients.
        "limit_concurrency": counts.total_limit + 1,
    }
