"""A full disk is a pause, not a failure: ``dropscribe run`` with its whole data root (inbox,
spool folders, outbox, state, audit log) on a small tmpfs that the test fills while recordings
are in flight, at several moments: before the claim, during the upload, and after the
submission (when the result is committed to state.db). Each run must end with every recording
published exactly once, nothing in failed/, no partial or temporary file, one storage.full and
one storage.available; the daemon never stops.

The audit file is on the full disk too: lines that cannot be written are dropped, so the test
reads the daemon's console (stdout, JSON lines, kept outside the tmpfs) for the pause events.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from support.daemon import Daemon, NotifySocket, wait_for
from support.fault_server import FaultServer
from support.small_disk import fill, tmpfs
from support.suite_daemon import CANARY_KEY, assert_no_secrets, suite_daemon, wav_bytes

DISK_KIB = 16 * 1024
#: How long the disk stays full once the daemon has paused (seconds).
FULL_SECONDS = 3.0
RUN_TIMEOUT = 60.0
FILES = 3
EXTENSIONS = ("json", "srt", "txt", "vtt")


def console_events(ws: Daemon, name: str) -> list[dict[str, Any]]:
    """Return the events ``name`` the daemon printed on stdout (JSON lines)."""
    found = []
    for path in sorted(ws.root.glob("stdout-*.log")):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if isinstance(event, dict) and event.get("event") == name:
                    found.append(event)
    return found


@pytest.fixture
def on_small_disk(tmp_path: Path) -> Iterator[tuple[FaultServer, Daemon, Path, NotifySocket]]:
    with contextlib.ExitStack() as stack:
        sock = stack.enter_context(NotifySocket(tmp_path / "notify.sock"))
        data = stack.enter_context(tmpfs(tmp_path / "data", DISK_KIB))
        srv = stack.enter_context(FaultServer(token=CANARY_KEY, polls_before_success=2))
        retry = {"outage_probe_first_seconds": 0.5, "outage_probe_max_seconds": 1.0}
        watch = {"settle_seconds": 1.0, "rescan_seconds": 5}
        ws = stack.enter_context(
            contextlib.closing(suite_daemon(tmp_path, srv, retry=retry, watch=watch))
        )
        ws.extra_env = {"NOTIFY_SOCKET": sock.address}
        ws.start("run", "--log-format", "json")
        wait_for(lambda: bool(ws.events("daemon.started")), RUN_TIMEOUT, "daemon.started")
        yield srv, ws, data, sock


def full_status(messages: list[str]) -> bool:
    return any(m.startswith("STATUS=paused: the disk is full") for m in messages)


def recordings() -> dict[str, bytes]:
    rng = random.Random(7)
    return {f"take{i}.wav": wav_bytes(rng, rng.randrange(20_000, 60_000)) for i in range(FILES)}


def before_claim(srv: FaultServer, ws: Daemon) -> None:
    """The disk fills while the recordings settle (1 s): they are claimed during the episode."""


def during_upload(srv: FaultServer, ws: Daemon) -> None:
    srv.latency_seconds = 1.0
    ws.wait_for_event("upload.started", RUN_TIMEOUT)


def after_submission(srv: FaultServer, ws: Daemon) -> None:
    ws.wait_for_event("submit.accepted", RUN_TIMEOUT)


@pytest.mark.parametrize("moment", [before_claim, during_upload, after_submission])
def test_run_disk_full_at_any_moment_pauses_and_publishes_each_recording_once(
    on_small_disk: tuple[FaultServer, Daemon, Path, NotifySocket],
    moment: Callable[[FaultServer, Daemon], None],
) -> None:
    srv, ws, data, sock = on_small_disk
    files = recordings()
    ws.drop(files)
    moment(srv, ws)
    filler = fill(data)
    wait_for(lambda: console_events(ws, "storage.full"), RUN_TIMEOUT, "storage.full")
    full_since = time.monotonic()
    # systemd hears of the pause (STATUS= every 5 s, from memory: no file can be written).
    assert full_status(sock.receive_until(full_status, 8.0)), sock.messages[-3:]
    # The disk stays full a while: probes fail, nothing may fail.
    time.sleep(max(0.0, FULL_SECONDS - (time.monotonic() - full_since)))
    assert ws.running()
    assert console_events(ws, "job.failed") == []
    srv.latency_seconds = 0.0
    filler.unlink()
    wait_for(lambda: len(ws.files("done")) == FILES, RUN_TIMEOUT, "every recording done")
    assert ws.stop() == 0, ws.stderr_text()

    assert len(console_events(ws, "storage.full")) == 1
    assert len(console_events(ws, "storage.available")) == 1
    assert console_events(ws, "job.failed") == [] and ws.files("failed") == []
    assert sorted(ws.files("done")) == sorted(Path(name) for name in files)
    outbox = sorted(ws.files("outbox"))
    assert outbox == sorted(Path(f"{Path(n).stem}.{e}") for n in files for e in EXTENSIONS)
    assert ws.files("processing") == [] and ws.files("inbox") == []
    leftovers = [p for p in data.rglob("*") if p.name.startswith(".dropscribe")]
    assert leftovers == []  # no temporary or partial file anywhere on the disk
    assert sorted(srv.submissions_by_sha256().values()) == [1] * FILES  # billed once each
    assert_no_secrets(ws, srv)
