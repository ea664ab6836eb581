"""A flaky service is not an outage: ``dropscribe run`` against a FaultServer that fails a
quarter of all requests transiently (15 % HTTP 503, 10 % HTTP 429 with Retry-After: 1).

The daemon runs with the outage rule's defaults (so many failures in a row, for so long, with
no call going through) and the suite's short retry waits; each failed call is retried by its
job, and nothing pauses. That an outage of every call still pauses is tests/end_to_end/
test_outage.py's.
"""

from __future__ import annotations

import contextlib
import random
from pathlib import Path

from support.daemon import wait_for
from support.fault_server import QUARTER_FAILING, FaultServer, random_faults
from support.suite_daemon import CANARY_KEY, assert_no_secrets, suite_daemon, wav_bytes

RECORDINGS = 20
RUN_TIMEOUT = 120.0
SEED = 27


def test_run_quarter_of_calls_failing_finishes_every_recording_without_a_pause(
    tmp_path: Path,
) -> None:
    rng = random.Random(SEED)
    sizes = [rng.randrange(2_000, 20_000) for _ in range(RECORDINGS)]
    files = {f"take{i}.wav": wav_bytes(rng, size) for i, size in enumerate(sizes)}
    with contextlib.ExitStack() as stack:
        srv = stack.enter_context(FaultServer(token=CANARY_KEY, polls_before_success=1))
        # No count of tries: a job gives up only after the time budget, as by default.
        ws = stack.enter_context(
            contextlib.closing(suite_daemon(tmp_path, srv, retry={"max_attempts": None}))
        )
        ws.start("run", "--log-format", "json")
        wait_for(lambda: bool(ws.events("daemon.started")), RUN_TIMEOUT, "daemon.started")
        srv.chooser = random_faults(SEED, QUARTER_FAILING)
        ws.drop(files)
        ws.wait_for_published(RECORDINGS, RUN_TIMEOUT)
        assert ws.stop() == 0, ws.stderr_text()

    assert ws.events("service.unavailable") == []
    assert ws.events("job.failed") == []
    assert ws.files("failed") == []
    # The faults were met, and retried: 503s and 429s alike.
    statuses = {event.get("status") for event in ws.events("job.retry")}
    assert {503, 429} <= statuses, statuses
    # Retries never billed twice: each recording was submitted once.
    assert sorted(srv.submissions_by_sha256().values()) == [1] * RECORDINGS
    assert_no_secrets(ws, srv)
