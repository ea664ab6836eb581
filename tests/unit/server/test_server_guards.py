"""The pure parts of the request guard and the connection limits."""

from __future__ import annotations

import logging

import pytest

from dropscribe.server.connections import (
    FD_RESERVE,
    ConnectionCounts,
    OncePerInterval,
    connection_budget,
)
from dropscribe.server.guards import FailureLimiter, is_long_poll, needs_token


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_failure_limiter_tenth_failure_blocks_for_the_rest_of_the_window() -> None:
    clock = Clock()
    limiter = FailureLimiter(limit=10, window=60, clock=clock)
    for _ in range(9):
        limiter.record("10.0.0.1")
    assert limiter.blocked("10.0.0.1") == 0
    limiter.record("10.0.0.1")
    assert limiter.blocked("10.0.0.1") == 60
    assert limiter.blocked("10.0.0.2") == 0
    clock.now += 59
    assert limiter.blocked("10.0.0.1") == 1
    clock.now += 1
    assert limiter.blocked("10.0.0.1") == 0


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/healthz", False),
        ("GET", "/metrics", False),
        ("PUT", "/v1/input/uploads/ab.wav", False),
        ("POST", "/v1/input/uploads/ab.wav", True),
        ("POST", "/v1/input/upload-url", True),
        ("GET", "/v1/async/requests/x", True),
        ("GET", "/anything/else", True),
    ],
)
def test_needs_token_only_open_paths_and_presigned_puts_are_free(
    method: str, path: str, expected: bool
) -> None:
    assert needs_token(method, path) is expected


@pytest.mark.parametrize(
    ("method", "query", "expected"),
    [("GET", b"wait=30", True), ("GET", b"a=1&wait=0.5", True), ("GET", b"wait=0", False),
     ("GET", b"", False), ("DELETE", b"wait=30", False)],
)  # fmt: skip
def test_is_long_poll_nonzero_wait_on_get(method: str, query: bytes, expected: bool) -> None:
    assert is_long_poll(method, query) is expected


def test_connection_budget_keeps_a_reserve_below_the_file_limit() -> None:
    assert connection_budget(1024) == 1024 - FD_RESERVE
    assert connection_budget(8192) == 4000
    assert connection_budget(20000) == 4000
    assert connection_budget(100) == 1


def test_connection_counts_per_client_and_total_limits() -> None:
    counts = ConnectionCounts(total_limit=3, per_client_limit=2)
    assert counts.admit("a") is None and counts.admit("a") is None
    assert "one client" in (counts.admit("a") or "")
    assert counts.admit("b") is None
    assert "maximum" in (counts.admit("c") or "")
    counts.release("a")
    assert counts.admit("c") is None
    assert counts.total == 3


def record(message: str, error: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(error), error, None) if error is not None else None
    return logging.LogRecord("asyncio", logging.ERROR, __file__, 1, message, None, exc_info)


def test_once_per_interval_logs_once_then_counts_the_repeats() -> None:
    clock = Clock()
    limiter = OncePerInterval(interval=60, clock=clock)
    assert limiter.filter(record("accept failed"))
    assert [limiter.filter(record("accept failed")) for _ in range(5)] == [False] * 5
    assert limiter.filter(record("something else"))
    clock.now += 60
    later = record("accept failed")
    assert limiter.filter(later)
    assert later.msg == "accept failed (5 more like this in the last interval)"


def test_once_per_interval_cuts_an_os_error_traceback_to_one_line() -> None:
    limited = record("accept failed", OSError(24, "Too many open files"))
    assert OncePerInterval().filter(limited)
    assert limited.exc_info is None
    assert limited.msg == "accept failed (OSError: [Errno 24] Too many open files)"
    bug = record("handler crashed", ZeroDivisionError("x"))
    assert OncePerInterval().filter(bug)
    assert bug.exc_info is not None  # a bug keeps its traceback


@pytest.mark.parametrize("path", ["/docs", "/openapi.json", "/redoc"])
def test_needs_token_documentation_path_is_open(path: str) -> None:
    assert not needs_token("GET", path)
