"""A refused API key in api.api_key_file: fixing the file resumes work without a restart.

A real daemon subprocess talks to the fault server on loopback, which refuses every key but
its own; the key source is read again at each probe of the auth pause and on SIGHUP, and
`status` says the daemon is paused meanwhile.
"""

from __future__ import annotations

import signal

from support.daemon import Daemon, MakeDaemon, wav_bytes
from support.fault_server import FaultServer

WRONG_KEY = "wrong-key-0123456789abcdef"
#: Seconds for a daemon to publish after the key was fixed: the pause before the next probe
#: (5 s, then 10 s) plus the four steps.
RESUME_TIMEOUT = 40.0


def refused_daemon(make_daemon: MakeDaemon) -> Daemon:
    """Start a daemon whose key file holds a wrong key; drop one recording; return it once
    the service has refused the key."""
    daemon = make_daemon(api={"api_key_file": "api.key"})
    daemon.api_key = None  # the key file is the only source
    (daemon.root / "api.key").write_text(WRONG_KEY + "\n", encoding="utf-8")
    daemon.start_and_wait()
    (daemon.inbox / "call.wav").write_bytes(wav_bytes("call"))
    daemon.wait_for_event("auth.paused")
    return daemon


def test_run_fixed_key_file_is_read_at_the_next_probe_and_work_resumes(
    make_daemon: MakeDaemon, server: FaultServer
) -> None:
    daemon = refused_daemon(make_daemon)

    (daemon.root / "api.key").write_text(server.token + "\n", encoding="utf-8")

    daemon.wait_for_published(1, timeout=RESUME_TIMEOUT)
    assert daemon.events("auth.key_reloaded", reason="probe")
    assert daemon.events("auth.resumed")
    assert daemon.running()


def test_run_sighup_reads_the_key_file_again(make_daemon: MakeDaemon, server: FaultServer) -> None:
    daemon = refused_daemon(make_daemon)

    (daemon.root / "api.key").write_text(server.token + "\n", encoding="utf-8")
    daemon.signal(signal.SIGHUP)

    daemon.wait_for_event("auth.key_reloaded", reason="signal")
    daemon.wait_for_published(1, timeout=RESUME_TIMEOUT)


def test_status_while_paused_says_the_key_is_refused_with_the_next_probe(
    make_daemon: MakeDaemon,
) -> None:
    daemon = refused_daemon(make_daemon)

    done = daemon.run("status")

    assert done.returncode == 0, done.stderr
    assert "paused: the service refuses the API key since 20" in done.stdout
    assert "next probe at 20" in done.stdout


def test_status_after_the_key_works_again_no_longer_says_paused(
    make_daemon: MakeDaemon, server: FaultServer
) -> None:
    daemon = refused_daemon(make_daemon)
    (daemon.root / "api.key").write_text(server.token + "\n", encoding="utf-8")
    daemon.wait_for_published(1, timeout=RESUME_TIMEOUT)

    done = daemon.run("status")

    assert "paused" not in done.stdout
