"""A service outage is a pause, not a verdict: ``dropscribe run`` against a FaultServer that
goes down for a while with recordings in flight.

The daemon runs with the retry section's defaults (no count of tries, the 24-hour budget, base
1 s, cap 300 s, the outage rule), except the outage probe's timings, shortened so the probe
after the outage comes within seconds. That the defaults wait out an outage of hours, not only
of this test's length, is the arithmetic of tests/unit/pipeline/test_outcomes.py (the budget)
and of the pause itself (no attempt is counted while it lasts, and probes never more than the
cap apart: tests/unit/pipeline/test_outage_gate.py).
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.daemon import Daemon, NotifySocket, wait_for
from support.fault_server import Fault, FaultServer
from support.suite_daemon import CANARY_KEY, assert_no_secrets, suite_daemon, wav_bytes

#: How long the service is down, in seconds: far past the give-up time of the old count (8
#: tries with this suite's 0.2-1 s waits: about 4 s) and several probe intervals long.
OUTAGE_SECONDS = 20.0
#: The probe's first wait and cap for this test (seconds); the defaults are 5 and 300.
PROBE_FIRST, PROBE_MAX = 0.5, 2.0
RUN_TIMEOUT = 90.0
#: The retry section: the defaults, the probe's timings shortened.
RETRY = {
    "max_attempts": None,
    "base_seconds": 1.0,
    "cap_seconds": 300.0,
    "give_up_after_hours": 24.0,
    "outage_probe_first_seconds": PROBE_FIRST,
    "outage_probe_max_seconds": PROBE_MAX,
}


@pytest.fixture
def down_then_up(tmp_path: Path) -> Iterator[tuple[FaultServer, Daemon, NotifySocket]]:
    """Yield a running daemon, its server (which answers normally until told otherwise) and
    the socket standing in for systemd."""
    with contextlib.ExitStack() as stack:
        sock = stack.enter_context(NotifySocket(tmp_path / "notify.sock"))
        srv = stack.enter_context(FaultServer(token=CANARY_KEY, polls_before_success=1))
        ws = stack.enter_context(contextlib.closing(suite_daemon(tmp_path, srv, retry=RETRY)))
        ws.extra_env = {"NOTIFY_SOCKET": sock.address}
        ws.start("run", "--log-format", "json")
        wait_for(lambda: bool(ws.events("daemon.started")), RUN_TIMEOUT, "daemon.started")
        yield srv, ws, sock


def paused_status(messages: list[str]) -> bool:
    return any(m.startswith("STATUS=paused: the service is unavailable") for m in messages)


def test_run_outage_of_twenty_seconds_pauses_and_fails_nothing(
    down_then_up: tuple[FaultServer, Daemon, NotifySocket],
) -> None:
    srv, ws, sock = down_then_up
    rng = random.Random(11)
    early = {f"early{i}.wav": wav_bytes(rng, rng.randrange(2_000, 20_000)) for i in range(3)}
    late = {f"late{i}.wav": wav_bytes(rng, rng.randrange(2_000, 20_000)) for i in range(3)}
    ws.drop(early)
    ws.wait_for_event("submit.accepted", RUN_TIMEOUT, count=1)
    srv.outage = Fault.status(503)
    went_down = time.monotonic()
    ws.drop(late)  # detected and claimed during the outage
    ws.wait_for_event("service.unavailable", RUN_TIMEOUT)
    paused_at = time.monotonic()
    paused = ws.run("status")
    assert "paused: the service is unavailable since" in paused.stdout, paused.stdout
    # systemd hears it too (STATUS= is sent every 5 s).
    assert paused_status(sock.receive_until(paused_status, OUTAGE_SECONDS / 2)), sock.messages
    ws.wait_for(
        lambda: time.monotonic() - went_down > OUTAGE_SECONDS / 2, RUN_TIMEOUT, "half the outage"
    )
    srv.outage = Fault.reset()  # the second half: connections reset
    ws.wait_for(lambda: time.monotonic() - went_down > OUTAGE_SECONDS, RUN_TIMEOUT, "the outage")
    srv.outage = None
    came_back = time.monotonic()
    ws.wait_for_published(len(early) + len(late), RUN_TIMEOUT)
    assert ws.stop() == 0, ws.stderr_text()

    assert ws.events("job.failed") == []
    assert ws.files("failed") == []
    assert len(ws.events("service.unavailable")) == 1
    assert len(ws.events("service.available")) == 1
    assert "paused" not in ws.run("status").stdout
    # Each recording was submitted once: nothing was billed twice by the retries.
    assert sorted(srv.submissions_by_sha256().values()) == [1] * (len(early) + len(late))
    # During the pause one probe at a time asks: with waits of 0.5, 1, 2, 2, ... s that is at
    # most a dozen calls in 20 s, plus the few that had left before the pause began.
    during = [r for r in srv.requests() if paused_at < r.at < came_back]
    assert len(during) <= OUTAGE_SECONDS / PROBE_MAX + 6, len(during)
    assert_no_secrets(ws, srv)
