"""One webhook attempt against hostile receivers on loopback: a 400 MB answer, an answer
dripped a byte a second, and no answer at all. The attempt ends within its timeout and reads
no body, whatever the receiver does."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from dropscribe.notifications.deadline import AttemptTimeout
from dropscribe.notifications.transport import post
from support.webhook_receiver import ENDLESS_BYTES, Mode, WebhookReceiver

#: The attempt's timeout in these tests (seconds): longer than the drip's second between
#: bytes, so that no single read waits that long and only the whole attempt's deadline ends it.
TIMEOUT = 2.0
#: How late past its timeout an attempt may end: thread wake-ups on a busy machine (seconds).
SLACK = 0.5
#: What loopback's socket buffers can take before a writer blocks (bytes): the sender's receive
#: buffer and the receiver's send buffer, both at their autotuned ceilings, and then some.
SOCKET_BUFFERS = 16 * 1024 * 1024


def _peak_rss_reset() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS


def _peak_rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc/self/status")


def _rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def test_post_endless_answer_is_judged_by_its_status_and_not_read() -> None:
    with WebhookReceiver(mode=Mode.ENDLESS_BODY) as receiver:
        _peak_rss_reset()
        before = _rss_bytes()
        status = post(receiver.url, {}, "{}", TIMEOUT)
        grown = _peak_rss_bytes() - before
        time.sleep(0.2)  # the receiver's write fails once the sender's socket is gone
        sent = receiver.bytes_sent

    assert status == 200
    assert sent < SOCKET_BUFFERS < ENDLESS_BYTES
    assert grown < 32 * 1024 * 1024, f"the process grew by {grown / 2**20:.0f} MiB"


@pytest.mark.parametrize("mode", [Mode.DRIP, Mode.SILENT])
def test_post_stalling_receiver_ends_at_the_attempts_deadline(mode: Mode) -> None:
    with WebhookReceiver(mode=mode) as receiver:
        started = time.monotonic()
        with pytest.raises(AttemptTimeout, match="no answer within 2 s"):
            post(receiver.url, {}, "{}", TIMEOUT)
        took = time.monotonic() - started

    assert TIMEOUT - 0.05 <= took <= TIMEOUT + SLACK


def test_post_refused_connection_is_an_error_not_a_timeout() -> None:
    with WebhookReceiver() as receiver:
        url = receiver.url
    with pytest.raises(OSError) as raised:
        post(url, {}, "{}", TIMEOUT)

    assert not isinstance(raised.value, AttemptTimeout)


def test_post_honest_receiver_gets_the_body_and_its_status_counts() -> None:
    with WebhookReceiver(statuses=[503]) as receiver:
        assert post(receiver.url, {"webhook-id": "msg_1"}, '{"a": 1}', TIMEOUT) == 503
        assert post(receiver.url, {"webhook-id": "msg_1"}, '{"a": 1}', TIMEOUT) == 200

    assert [r.event for r in receiver.received] == [{"a": 1}, {"a": 1}]
