"""The audit contract (``dropscribe.audit.CONTRACT``) against a real run's ``audit.jsonl``, and
the README's list of events against the contract."""

from __future__ import annotations

import json
import re
from pathlib import Path

from dropscribe.audit import CONTRACT, Event
from support.daemon import MakeDaemon, drop_all, wav_bytes
from support.fault_server import Fault, FaultServer

README = Path(__file__).resolve().parents[2] / "README.md"
#: Seconds a running daemon may take to adopt a job requeued by `retry` (it looks every 5 s).
ADOPT_TIMEOUT = 15.0
#: Events this run must produce, so that the check below covers them.
EXERCISED = {
    Event.DAEMON_STARTED, Event.FILE_DETECTED, Event.FILE_REJECTED, Event.JOB_CLAIMED,
    Event.UPLOAD_STARTED, Event.UPLOAD_DONE, Event.SUBMIT_SENT, Event.SUBMIT_ACCEPTED,
    Event.POLL_STATUS, Event.JOB_RETRY, Event.JOB_SUCCEEDED, Event.JOB_PUBLISHED,
    Event.JOB_SUMMARY, Event.JOB_FAILED, Event.JOB_WAITING, Event.JOB_DUPLICATE,
    Event.JOB_REQUEUED, Event.JOB_ADOPTED, Event.DAEMON_STOPPING, Event.DAEMON_STOPPED,
}  # fmt: skip


def test_audit_trail_of_a_real_run_keeps_the_contract(
    make_daemon: MakeDaemon, server: FaultServer
) -> None:
    server.plan("submit", [Fault.status(503)])
    server.plan("poll", [Fault.status(400)])  # fails the job; its request stays fine
    daemon = make_daemon()
    daemon.start_and_wait()
    twin = wav_bytes("twin", size=2048)
    drop_all(
        daemon.root / "staging",
        daemon.inbox,
        {"a.wav": wav_bytes("a"), "x.wav": twin, "y.wav": twin, "empty.wav": b""},
    )
    failures = daemon.wait_for_event("job.failed", count=2)
    (failed,) = [f for f in failures if f["step"] != "inspect"]  # the other: empty.wav
    daemon.wait_for_published(2)
    assert daemon.run("retry", failed["job_id"]).returncode == 0
    daemon.wait_for_published(3, timeout=ADOPT_TIMEOUT)
    drop_all(daemon.root / "staging", daemon.inbox, {"a again.wav": wav_bytes("a")})
    daemon.wait_for_published(4)
    assert daemon.stop() == 0

    lines = [json.loads(line) for line in daemon.audit_log.read_text(encoding="utf-8").splitlines()]
    ours = [line for line in lines if line["logger"] == "dropscribe"]
    assert {Event(line["event"]) for line in ours} >= EXERCISED
    for line in ours:
        fields = CONTRACT[Event(line["event"])]
        assert fields.always <= line.keys(), line
        assert line.keys() <= fields.allowed, line


def test_readme_lists_exactly_the_events_of_the_contract() -> None:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("Audit events have stable names:") :]
    section = section[: section.index("\n\n")]
    listed = re.findall(r"`([a-z]+\.[a-z_]+)`", section)
    assert sorted(listed) == sorted(e.value for e in CONTRACT)
    assert len(listed) == len(set(listed))
