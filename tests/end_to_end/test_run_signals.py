"""``dropscribe run`` and its signals: SIGTERM drains, a second one stops at once, SIGHUP rescans.

An upload is held in flight by a PUT the fault server never answers, so each signal arrives
while a transfer runs, the moment that matters.
"""

from __future__ import annotations

import os
import signal
import time

from support.daemon import Daemon, MakeDaemon, expect_outputs, sha256_of, wav_bytes
from support.fault_server import Fault, FaultServer

#: The drain timeout of these tests, in seconds: short, so a held upload is given up quickly.
DRAIN_SECONDS = 2.0
#: Slack for the start and exit of a Python process on a busy machine, in seconds.
EXIT_SLACK_SECONDS = 5.0
UNFINISHED = {"claimed", "uploading", "uploaded", "submitting", "submitted", "succeeded"}


def hold_upload(make_daemon: MakeDaemon, server: FaultServer, drain: float) -> tuple[Daemon, bytes]:
    """Start a daemon, drop one recording and wait until its upload hangs in flight; return
    the daemon and the recording's content."""
    server.plan("put", [Fault.hang()])
    daemon = make_daemon(workers={"drain_timeout_seconds": drain})
    daemon.start_and_wait()
    data = wav_bytes("held")
    (daemon.inbox / "held.wav").write_bytes(data)
    daemon.wait_for(lambda: server.requests("put"), what="the upload to reach the server")
    daemon.wait_for_state("uploading")
    return daemon, data


def test_run_sigterm_mid_upload_exits_zero_within_drain_timeout(
    make_daemon: MakeDaemon, server: FaultServer
) -> None:
    daemon, _ = hold_upload(make_daemon, server, DRAIN_SECONDS)

    started = time.monotonic()
    daemon.signal(signal.SIGTERM)
    code = daemon.wait_exit(DRAIN_SECONDS + EXIT_SLACK_SECONDS)

    assert code == 0
    assert time.monotonic() - started >= DRAIN_SECONDS - 0.5  # it did wait for the transfer
    assert [j["state"] for j in daemon.jobs()] == ["uploading"]


def test_run_restart_after_sigterm_mid_upload_resumes_with_one_submission(
    make_daemon: MakeDaemon, server: FaultServer
) -> None:
    daemon, data = hold_upload(make_daemon, server, DRAIN_SECONDS)
    assert daemon.stop(DRAIN_SECONDS + EXIT_SLACK_SECONDS) == 0

    daemon.start_and_wait()
    daemon.wait_for_published(1)

    assert daemon.outputs() == expect_outputs(["held"])
    assert server.submissions_by_sha256() == {sha256_of(data): 1}
    assert len(server.requests("put")) == 2  # the held one, then one with a fresh URL
    assert daemon.stop() == 0


def test_run_second_sigterm_during_drain_stops_at_once_with_state_intact(
    make_daemon: MakeDaemon, server: FaultServer
) -> None:
    daemon, _ = hold_upload(make_daemon, server, drain=60.0)
    daemon.signal(signal.SIGTERM)
    daemon.wait_for_event("daemon.stopping")

    started = time.monotonic()
    daemon.signal(signal.SIGTERM)
    code = daemon.wait_exit(EXIT_SLACK_SECONDS)

    assert code == 130
    assert time.monotonic() - started < EXIT_SLACK_SECONDS
    assert daemon.integrity() == "ok"
    assert {j["state"] for j in daemon.jobs()} <= UNFINISHED


def overflow_inotify_queue(inbox: os.PathLike[str]) -> None:
    """Make more inbox events than inotify queues (``max_queued_events``) with an ignored
    dotfile, so that the events of whatever comes next are dropped by the kernel."""
    with open("/proc/sys/fs/inotify/max_queued_events", encoding="ascii") as limit:
        events = int(limit.read())
    noise = os.path.join(inbox, ".noise")
    for _ in range(events):  # at least two events each: create and delete
        os.close(os.open(noise, os.O_WRONLY | os.O_CREAT, 0o600))
        os.unlink(noise)


def test_run_sighup_rescans_and_takes_a_file_the_watcher_missed(
    make_daemon: MakeDaemon, server: FaultServer
) -> None:
    # No periodic rescan: a missed file is found by SIGHUP or not at all.
    daemon = make_daemon(watch={"rescan_seconds": 3600, "mode": "native"})
    daemon.start_and_wait()
    # A first recording proves the observer runs and the start-up scan is over.
    (daemon.inbox / "first.wav").write_bytes(wav_bytes("first"))
    daemon.wait_for_published(1)
    staged = daemon.root / "missed.wav"
    staged.write_bytes(wav_bytes("missed"))

    # Frozen, the daemon reads no inotify events; the queue overflows and the kernel drops
    # the event of the file renamed in after the noise.
    daemon.signal(signal.SIGSTOP)
    try:
        overflow_inotify_queue(daemon.inbox)
        os.rename(staged, daemon.inbox / "missed.wav")
    finally:
        daemon.signal(signal.SIGCONT)
    daemon.wait_for(
        lambda: [e for e in daemon.events() if "overflow" in str(e.get("event"))],
        what="watchdog to report the inotify queue overflow",
    )
    time.sleep(1.5)  # three settle periods: long enough to be sure the file was missed
    assert (daemon.inbox / "missed.wav").exists(), "the watcher did not miss the file"

    daemon.signal(signal.SIGHUP)
    daemon.wait_for_published(2, timeout=5.0)

    assert daemon.outputs() == expect_outputs(["first", "missed"])
