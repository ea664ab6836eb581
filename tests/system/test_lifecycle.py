"""What systemd does with the running daemon: reload, stop with a drain, the watchdog, and no
restart loop on a bad configuration."""

from __future__ import annotations

import shlex
import time
from datetime import datetime
from typing import Any

import pytest

from support.container import wait_for
from support.installed_service import (
    DAEMON,
    DROPPER,
    INBOX,
    SERVE,
    START_TIMEOUT_SECONDS,
    SYSTEM_TEST_TIMEOUT_SECONDS,
    TRANSCRIPT_TIMEOUT_SECONDS,
    Backend,
    Service,
    config_install,
)

pytestmark = [pytest.mark.system, pytest.mark.timeout(SYSTEM_TEST_TIMEOUT_SECONDS)]

#: The unit's RestartSec= (5 s) plus a margin: a restart would have begun by then.
NO_RESTART_WAIT_SECONDS = 10.0
#: The unit's WatchdogSec= (30 s) + RestartSec= (5 s) + a start, with room for a busy machine.
WATCHDOG_RESTART_TIMEOUT_SECONDS = 120.0
#: The daemon's settle_seconds (2 s, the README's configuration) three times over: a file the
#: watcher saw would have been claimed by then.
MISSED_WAIT_SECONDS = 6.0
#: watch.rescan_seconds in the README's configuration (the default): the periodic rescan.
README_RESCAN_SECONDS = 60.0
#: How long the server stays frozen once the stop has begun (seconds): the transfer is still
#: held then, well inside the daemon's 30 s drain and the unit's TimeoutStopSec=45s.
DRAIN_HOLD_SECONDS = 5.0
#: How long after job.claimed the transfer thread surely waits on the frozen server (seconds).
IN_FLIGHT_SECONDS = 1.0
#: Fills the daemon's inotify queue (more events than max_queued_events) with a dotfile the
#: daemon ignores, so that the kernel drops the events that follow.
OVERFLOW_PROGRAM = """
import os, sys
limit = int(open("/proc/sys/fs/inotify/max_queued_events").read())
noise = os.path.join(sys.argv[1], ".noise")
for _ in range(limit):
    os.close(os.open(noise, os.O_WRONLY | os.O_CREAT, 0o600))
    os.unlink(noise)
"""


def seconds_between(earlier: dict[str, Any], later: dict[str, Any]) -> float:
    """Return the seconds between the timestamps of two audit events."""
    start, end = (datetime.fromisoformat(e["timestamp"]) for e in (earlier, later))
    return (end - start).total_seconds()


def test_reload_makes_the_daemon_rescan_the_inbox(service: Service) -> None:
    service.use_embedded()
    mark = len(service.events())
    # A fresh start: the next periodic rescan (60 s) is well after this test.
    service.restart_daemon(mark)
    pid = service.main_pid()
    service.drop("jfk-1.wav", "first.wav")
    service.wait_event(mark, "job.published", TRANSCRIPT_TIMEOUT_SECONDS, source="first.wav")
    staged = f"/home/{DROPPER}/missed.wav"
    service.container.sh(f"runuser -u {DROPPER} -- cp /fixtures/jfk-2.wav {staged}")

    # Frozen, the daemon reads no inotify events; the queue overflows and the kernel drops the
    # event of the file moved in after the noise.
    service.signal(pid, "STOP")
    try:
        overflow = f"python3 -c {shlex.quote(OVERFLOW_PROGRAM)} {INBOX}"
        service.container.sh(overflow)
        service.container.sh(f"runuser -u {DROPPER} -- mv {staged} {INBOX}/missed.wav")
    finally:
        service.signal(pid, "CONT")
    wait_for(
        lambda: [e for e in service.events()[mark:] if "overflow" in str(e.get("event"))],
        30,
        "the watcher to report the inotify queue overflow",
    )
    time.sleep(MISSED_WAIT_SECONDS)
    assert service.container.path(f"{INBOX}/missed.wav").exists(), "the watcher saw the file"

    service.container.sh(f"systemctl reload {DAEMON}")
    claimed = service.wait_event(
        mark, "job.claimed", TRANSCRIPT_TIMEOUT_SECONDS, source="missed.wav"
    )
    # Taken by the reload's rescan, not by the periodic one a minute after the start.
    started = service.events_since(mark, "daemon.started")[-1]
    assert seconds_between(started, claimed) < README_RESCAN_SECONDS
    service.wait_event(mark, "job.published", TRANSCRIPT_TIMEOUT_SECONDS, source="missed.wav")
    assert service.main_pid() == pid


def test_bad_config_exits_78_and_is_not_restarted(service: Service) -> None:
    service.use_embedded()
    service.backend = Backend.OTHER  # whatever happens here, the next test restarts it
    misspelled = service.steps.config_yaml + "watch:\n  setle_seconds: 2\n"
    service.container.sh(config_install(misspelled))
    start = service.container.sh(
        f"systemctl reset-failed {DAEMON}; systemctl restart {DAEMON}", check=False
    )
    assert start.returncode != 0
    properties = ("ActiveState", "ExecMainStatus", "NRestarts")
    first = service.show(DAEMON, *properties)
    time.sleep(NO_RESTART_WAIT_SECONDS)
    later = service.show(DAEMON, *properties)
    assert first == later == {"ActiveState": "failed", "ExecMainStatus": "78", "NRestarts": "0"}
    # Refused before the audit trail is open (its folder is a setting): said on stderr.
    assert "watch.setle_seconds: unknown setting" in service.journal_tail(DAEMON)


def test_stop_drains_the_transfer_in_flight(service: Service) -> None:
    service.use_serve()
    serve_pid = service.main_pid(SERVE)
    mark = len(service.events())
    # The frozen server holds the daemon's transfer mid-request until the stop has begun.
    service.signal(serve_pid, "STOP")
    try:
        service.drop("jfk-3.wav", "draining.wav")
        job_id = service.wait_event(mark, "job.claimed", source="draining.wav")["job_id"]
        time.sleep(IN_FLIGHT_SECONDS)
        service.container.sh(f"systemctl stop --no-block {DAEMON}")
        service.wait_event(mark, "daemon.stopping")
        service.backend = Backend.OTHER
        # The daemon waits for its transfer, and systemd lets it (TimeoutStopSec=).
        time.sleep(DRAIN_HOLD_SECONDS)
        assert service.show(DAEMON, "ActiveState") == {"ActiveState": "deactivating"}
        assert not service.events_since(mark, "submit.accepted", job_id=job_id)
    finally:
        service.signal(serve_pid, "CONT")
    wait_for(
        lambda: service.show(DAEMON, "ActiveState")["ActiveState"] == "inactive",
        60,
        "the daemon to stop",
        lambda: service.journal_tail(DAEMON),
    )

    names = [e["event"] for e in service.events_since(mark)]
    accepted = service.events_since(mark, "submit.accepted", job_id=job_id)
    assert accepted, names
    assert names.index("daemon.stopping") < names.index("submit.accepted")
    assert names.index("submit.accepted") < names.index("daemon.stopped")
    assert service.events_since(mark, "daemon.stopped")[0].get("drained", True) is True
    result = service.show(DAEMON, "Result", "ExecMainStatus")
    assert result == {"Result": "success", "ExecMainStatus": "0"}

    # Started again, the daemon polls the drained job: published, never submitted twice.
    restart = len(service.events())
    service.use_serve()
    service.wait_event(restart, "job.published", TRANSCRIPT_TIMEOUT_SECONDS, job_id=job_id)
    assert not service.events_since(restart, "submit.sent", job_id=job_id)


def test_watchdog_restarts_a_frozen_daemon_which_resumes_its_job(service: Service) -> None:
    service.use_serve()
    serve_pid, daemon_pid = service.main_pid(SERVE), service.main_pid()
    restarts = int(service.show(DAEMON, "NRestarts")["NRestarts"])
    mark = len(service.events())
    service.signal(serve_pid, "STOP")
    try:
        service.drop("jfk-4.wav", "frozen.wav")
        job_id = service.wait_event(mark, "job.claimed", source="frozen.wav")["job_id"]
        time.sleep(IN_FLIGHT_SECONDS)
        service.signal(daemon_pid, "STOP")
    finally:
        service.signal(serve_pid, "CONT")

    wait_for(
        lambda: service.main_pid() not in (0, daemon_pid),
        WATCHDOG_RESTART_TIMEOUT_SECONDS,
        "systemd to restart the frozen daemon",
        lambda: service.journal_tail(DAEMON),
    )
    journal = service.journal_tail(DAEMON, lines=200)
    assert "Watchdog timeout" in journal
    assert int(service.show(DAEMON, "NRestarts")["NRestarts"]) == restarts + 1
    service.wait_event(mark, "daemon.started", START_TIMEOUT_SECONDS, pid=service.main_pid())
    service.wait_event(mark, "job.recovered", job_id=job_id)
    service.wait_event(mark, "job.published", TRANSCRIPT_TIMEOUT_SECONDS, job_id=job_id)
