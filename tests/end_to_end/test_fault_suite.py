"""Faults between the daemon and the service, end to end through ``dropscribe run``.

Each test starts the daemon against a FaultServer, plans faults once the daemon is up, drops
recordings, waits until every job has finished, stops the daemon with SIGTERM and then checks
what the server saw: the final state of every file, how many attempts each step took, that the
waits honoured Retry-After, that no call outlived its deadline and that no recording was
submitted twice. Every run uses the canary key and presign secret and ends with the secrets
check. Timings come from the server's own records (``time.monotonic()``, one clock for both
processes on Linux).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from support.daemon import Daemon, wait_for
from support.fault_server import Fault, FaultServer, Recorded
from support.suite_daemon import (
    CANARY_KEY,
    CANARY_PRESIGN_SECRET,
    assert_no_secrets,
    suite_daemon,
    wav_bytes,
)

SEED = 2_0240_611
#: The config's timings (see support.suite_daemon.suite_settings), in seconds.
READ_TIMEOUT = 2.0
CALL_DEADLINE = 3.0
RETRY_CAP = 1.0
#: Slack for a busy 2-core machine when bounding how late something happens, in seconds.
SLACK = 0.75
#: Seconds a whole run may take before the test gives up.
RUN_TIMEOUT = 60.0
EXTENSIONS = ("json", "srt", "txt", "vtt")
#: retry.outage_after_seconds at its largest, far past any run here: the daemon never pauses.
NEVER_PAUSE_SECONDS = 3600


@dataclass
class Outcome:
    """What one run left: the server's records, the daemon's folders, the recordings."""

    srv: FaultServer
    ws: Daemon
    files: dict[str, bytes]

    def requests(self, step: str) -> list[Recorded]:
        return self.srv.requests(step)

    def retries(self) -> list[dict[str, Any]]:
        return self.ws.events("job.retry")

    def assert_published(self, names: Sequence[str] | None = None) -> None:
        """Every recording named (default: all) is in done/ with its four outputs."""
        names = list(self.files) if names is None else list(names)
        done = set(self.ws.files("done"))
        outbox = set(self.ws.files("outbox"))
        for name in names:
            assert Path(name) in done
            assert {Path(f"{Path(name).stem}.{ext}") for ext in EXTENSIONS} <= outbox
        assert len(outbox) == len(EXTENSIONS) * len(names)


Run = Callable[..., Outcome]


def recordings(count: int, seed: int = SEED) -> dict[str, bytes]:
    rng = random.Random(seed)
    return {f"take{i}.wav": wav_bytes(rng, rng.randrange(2_000, 20_000)) for i in range(count)}


def finished_jobs(ws: Daemon) -> set[str]:
    return {e["job_id"] for e in ws.events() if e["event"] in ("job.published", "job.failed")}


@pytest.fixture
def fault_run(tmp_path: Path) -> Iterator[Run]:
    """Yield ``run(plan, files=2, polls_before_success=1, before_drop=None)``: a daemon against
    a fault server with ``plan`` ({step: [Fault, ...]}) queued once the daemon is up."""
    with contextlib.ExitStack() as stack:

        def run(
            plan: Mapping[str, Sequence[Fault]],
            *,
            files: int = 2,
            polls_before_success: int = 1,
            before_drop: Callable[[FaultServer], None] | None = None,
        ) -> Outcome:
            srv = stack.enter_context(
                FaultServer(
                    token=CANARY_KEY,
                    presign_secret=CANARY_PRESIGN_SECRET,
                    polls_before_success=polls_before_success,
                )
            )
            # These runs count each planned fault's own retry; the outage pause, which takes
            # over once calls keep failing for a while, has its own suite (test_outage).
            no_pause = {"outage_after_seconds": NEVER_PAUSE_SECONDS}
            daemon = suite_daemon(tmp_path, srv, retry=no_pause)
            ws = stack.enter_context(contextlib.closing(daemon))
            ws.start("run", "--log-format", "json")
            wait_for(lambda: bool(ws.events("daemon.started")), RUN_TIMEOUT, "daemon.started")
            for step, faults in plan.items():
                srv.plan(step, faults)
            if before_drop is not None:
                before_drop(srv)
            data = recordings(files)
            ws.drop(data)
            wait_for(lambda: len(finished_jobs(ws)) >= files, RUN_TIMEOUT, "every job to end")
            assert ws.stop() == 0, ws.stderr_text()
            srv.stop()  # ends hung requests; the records stay readable
            outcome = Outcome(srv, ws, data)
            _assert_common(outcome, plan)
            return outcome

        yield run


def _assert_common(outcome: Outcome, plan: Mapping[str, Sequence[Fault]]) -> None:
    """What holds after any fault: every planned fault was met, nothing was submitted twice,
    no job was left unfinished, the daemon never crashed, and no secret leaked."""
    srv, ws = outcome.srv, outcome.ws
    for step in plan:
        assert srv.pending_faults(step) == 0, f"a planned {step} fault was never reached"
    assert set(srv.submissions_by_sha256().values()) <= {1}, "a recording was submitted twice"
    assert {job["state"] for job in ws.jobs()} <= {"published", "failed"}
    assert ws.files("inbox") == [] == ws.files("processing")
    assert "Traceback" not in ws.stderr_text()
    assert_no_secrets(ws, srv)


def gap_after(records: Sequence[Recorded], index: int) -> float:
    """Seconds between request ``index`` of a step and the next request of that step."""
    return records[index + 1].at - records[index].at


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- server errors ---------------------------------------------------------------------------


def test_faults_burst_of_5xx_is_retried_until_every_file_is_published(fault_run: Run) -> None:
    burst = [Fault.status(code) for code in (503, 500, 502, 504)]
    out = fault_run({"submit": burst, "poll": [Fault.status(503), Fault.status(503)]})

    out.assert_published()
    assert len(out.requests("submit")) == 2 + 4  # one good submit per file, plus the burst
    assert len(out.requests("poll")) == 2 * 2 + 2  # two polls per file, plus the 503s
    statuses = sorted(event["status"] for event in out.retries())
    assert statuses == [500, 502, 503, 503, 503, 504]
    assert all(0 <= event["delay_seconds"] <= RETRY_CAP for event in out.retries())
    assert out.srv.submissions_by_sha256() == {digest(d): 1 for d in out.files.values()}


def test_faults_429_retry_after_seconds_is_honoured(fault_run: Run) -> None:
    # Longer than the retry cap, so only Retry-After can explain a wait this long.
    limited = Fault.status(429, headers={"Retry-After": "2"})
    out = fault_run({"upload_url": [limited]}, files=1)

    out.assert_published()
    asked = out.requests("upload_url")
    assert len(asked) == 2
    assert 2.0 <= gap_after(asked, 0) <= 2.0 + SLACK
    [retry] = out.retries()
    assert (retry["status"], retry["delay_seconds"], retry["attempt"]) == (429, 2.0, 1)


def test_faults_429_retry_after_http_date_is_honoured(fault_run: Run) -> None:
    retry_at = 0

    def plan_date(srv: FaultServer) -> None:
        # Planned only now that the daemon is up, so the date is a few seconds ahead of it.
        nonlocal retry_at
        retry_at = int(time.time()) + 4
        header = format_datetime(datetime.fromtimestamp(retry_at, UTC), usegmt=True)
        srv.plan("submit", [Fault.status(429, headers={"Retry-After": header})])

    out = fault_run({}, files=1, before_drop=plan_date)

    out.assert_published()
    asked = out.requests("submit")
    assert len(asked) == 2
    wall_offset = time.time() - time.monotonic()
    asked_for = retry_at - (asked[0].at + wall_offset)
    assert asked_for > RETRY_CAP + 1  # the date, not the backoff, decides the wait
    assert asked_for - 0.1 <= gap_after(asked, 0) <= asked_for + SLACK
    [retry] = out.retries()
    assert retry["status"] == 429
    assert retry["delay_seconds"] == pytest.approx(asked_for, abs=0.3)


# -- broken connections ----------------------------------------------------------------------


def test_faults_connection_resets_are_retried_in_every_step(fault_run: Run) -> None:
    plan = {step: [Fault.reset()] for step in ("upload_url", "put", "submit", "poll")}
    out = fault_run(plan, files=1)

    out.assert_published()
    # A failed PUT fetches a fresh URL, so upload_url counts its own reset and the PUT's.
    counts = {step: len(out.requests(step)) for step in plan}
    assert counts == {"upload_url": 3, "put": 2, "submit": 2, "poll": 3}
    assert len(out.retries()) == 4
    assert all(event["status"] is None for event in out.retries())


def test_faults_hung_server_is_cut_at_the_read_timeout(fault_run: Run) -> None:
    out = fault_run({"submit": [Fault.hang()]}, files=1)

    out.assert_published()
    asked = out.requests("submit")
    assert len(asked) == 2
    [retry] = out.retries()
    waited_for_answer = gap_after(asked, 0) - retry["delay_seconds"]
    assert READ_TIMEOUT - 0.1 <= waited_for_answer <= READ_TIMEOUT + SLACK
    assert out.srv.submissions_total() == 1


def test_faults_trickling_server_is_cut_at_the_call_deadline(fault_run: Run) -> None:
    # A byte every 0.5 s never trips the 2 s read timeout; only the call deadline ends it.
    out = fault_run({"poll": [Fault.trickle(0.5)]}, files=1)

    out.assert_published()
    asked = out.requests("poll")
    assert len(asked) == 3
    [retry] = out.retries()
    trickled = next(i for i, _ in enumerate(asked[:-1]) if gap_after(asked, i) > READ_TIMEOUT)
    waited_for_answer = gap_after(asked, trickled) - retry["delay_seconds"]
    assert CALL_DEADLINE - 0.1 <= waited_for_answer <= CALL_DEADLINE + SLACK


# -- bad bodies and statuses -----------------------------------------------------------------


def test_faults_truncated_and_malformed_bodies_are_retried(fault_run: Run) -> None:
    plan = {
        "upload_url": [Fault.malformed()],
        "submit": [Fault.truncated()],
        "poll": [Fault.truncated(), Fault.malformed()],
    }
    out = fault_run(plan, files=1)

    out.assert_published()
    counts = {step: len(out.requests(step)) for step in plan}
    assert counts == {"upload_url": 2, "submit": 2, "poll": 4}
    assert len(out.retries()) == 4


def test_faults_unknown_status_is_reported_and_polling_goes_on(fault_run: Run) -> None:
    out = fault_run({"poll": [Fault.unknown_status("Teleporting")]}, files=1)

    out.assert_published()
    [event] = out.ws.events("poll.unknown_status")
    assert event["status"] == "Teleporting"
    assert len(out.requests("poll")) == 3
    assert out.retries() == []


def test_faults_expired_presigned_url_is_replaced_by_a_fresh_one(fault_run: Run) -> None:
    out = fault_run({"put": [Fault.expired()]}, files=1)

    out.assert_published()
    assert len(out.requests("upload_url")) == 2
    first, second = out.requests("put")
    assert first.path != second.path  # a new upload, not the refused URL again
    [retry] = out.retries()
    assert retry["status"] == 403


def test_faults_job_failed_remotely_ends_in_failed_with_the_servers_error(
    fault_run: Run,
) -> None:
    out = fault_run({"poll": [Fault.job_failed("engine exploded (injected)")]}, files=2)

    failed = out.ws.files("failed")
    assert len(failed) == 2  # the recording and its report
    [recording] = [p for p in failed if p.suffix == ".wav"]
    report = json.loads((out.ws.path("failed") / f"{recording}.error.json").read_text())
    assert "engine exploded (injected)" in report["error"]
    [survivor] = [name for name in out.files if name != str(recording)]
    out.assert_published([survivor])
    assert [e["source"] for e in out.ws.events("job.failed")] == [str(recording)]
    assert out.srv.submissions_total() == 2
    assert out.retries() == []


# -- authentication ----------------------------------------------------------------------------


def test_faults_revoked_key_pauses_all_work_and_resumes_by_itself(fault_run: Run) -> None:
    def revoke_until_paused(srv: FaultServer) -> None:
        srv.revoked = True

        def restore_when_refused() -> None:
            wait_for(lambda: len(srv.requests()) > 0, RUN_TIMEOUT, "a refused request")
            time.sleep(1.0)
            srv.revoked = False

        threading.Thread(target=restore_when_refused, daemon=True).start()

    out = fault_run({}, files=3, before_drop=revoke_until_paused)

    out.assert_published()
    assert len(out.ws.events("auth.paused")) == 1
    assert len(out.ws.events("auth.resumed")) == 1
    # While paused, nothing is sent: after the refusals in flight, silence until the pause ends.
    everything = out.srv.requests()
    refused_at = everything[0].at
    quiet = [r for r in everything if refused_at + 1.0 < r.at < refused_at + 4.5]
    assert quiet == []
    assert out.retries() == []  # a refused key is no failed attempt of the job
    assert out.srv.submissions_by_sha256() == {digest(d): 1 for d in out.files.values()}
