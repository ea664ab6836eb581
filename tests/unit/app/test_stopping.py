"""The shutdown's waits: each ends when what it waits for ends, at its timeout, or at once on
a second signal."""

from __future__ import annotations

import threading
import time

from dropscribe.app.stopping import STOP_CHECK_SECONDS, in_background, waited

#: Slack for a busy machine, in seconds.
SLACK_SECONDS = 1.0


def never_done(seconds: float) -> bool:
    time.sleep(seconds)
    return False


def test_waited_hard_stop_during_the_wait_returns_false_within_a_slice() -> None:
    hard = threading.Event()
    threading.Timer(0.2, hard.set).start()
    started = time.monotonic()

    assert waited(never_done, 60.0, hard) is False
    assert time.monotonic() - started < 0.2 + STOP_CHECK_SECONDS + SLACK_SECONDS


def test_waited_timeout_returns_false_after_the_seconds_given() -> None:
    started = time.monotonic()

    assert waited(never_done, 0.3, threading.Event()) is False
    assert 0.3 <= time.monotonic() - started < 0.3 + SLACK_SECONDS


def test_waited_work_done_returns_true() -> None:
    release = threading.Event()
    threading.Timer(0.2, release.set).start()

    assert waited(in_background(release.wait, "test"), 60.0, threading.Event())


def test_waited_zero_seconds_still_asks_once() -> None:
    assert waited(lambda seconds: True, 0.0, threading.Event()) is True


def test_in_background_work_still_running_does_not_hold_the_hard_stop() -> None:
    hard = threading.Event()
    hard.set()
    blocked = threading.Event()

    assert waited(in_background(blocked.wait, "test"), 60.0, hard) is False
    blocked.set()
