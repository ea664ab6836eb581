"""A writer that closes the file, pauses and reopens it: ``dropscribe run`` (native watching,
settle 0.5 s) against a WAV whose header declares its whole length while only half is there.

The test process is the writer: it writes half, closes, pauses well past the settle time,
then appends the rest (a resumed upload), or never comes back (a dropped one). The fault
server does not decode audio: the .json's size and sha256 say what it was sent.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.daemon import Daemon, wait_for
from support.fault_server import FaultServer
from support.suite_daemon import CANARY_KEY, suite_daemon, wav_bytes

RUN_TIMEOUT = 60.0
SETTLE_SECONDS = 0.5
PAUSE_SECONDS = 3.0  # the writer's pause between its pieces, six settle times
UNFINISHED_WAIT_SECONDS = 6.0  # watch.unfinished_wait_seconds, shortened: past the pause
SIZE = 400_000


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[FaultServer, Daemon]]:
    with contextlib.ExitStack() as stack:
        srv = stack.enter_context(FaultServer(token=CANARY_KEY, polls_before_success=1))
        watch = {
            "settle_seconds": SETTLE_SECONDS,
            "rescan_seconds": 5,
            "mode": "native",
            "unfinished_wait_seconds": UNFINISHED_WAIT_SECONDS,
        }
        ws = stack.enter_context(contextlib.closing(suite_daemon(tmp_path, srv, watch=watch)))
        ws.inbox.mkdir(parents=True, exist_ok=True)
        ws.start("run", "--log-format", "json")
        wait_for(lambda: bool(ws.events("daemon.started")), RUN_TIMEOUT, "daemon.started")
        yield srv, ws


def write_half(path: Path, data: bytes) -> None:
    with path.open("wb") as out:
        out.write(data[: len(data) // 2])


def test_run_writer_pausing_between_pieces_is_published_whole_once(
    daemon: tuple[FaultServer, Daemon],
) -> None:
    srv, ws = daemon
    data = wav_bytes(random.Random(1), SIZE)  # its RIFF header declares all SIZE bytes
    path = ws.inbox / "resumed.wav"
    write_half(path, data)
    time.sleep(PAUSE_SECONDS)
    assert ws.events("job.claimed") == [] and path.exists()
    with path.open("ab") as out:
        out.write(data[SIZE // 2 :])
    wait_for(lambda: (ws.done / "resumed.wav").exists(), RUN_TIMEOUT, "resumed.wav in done/")
    document = json.loads((ws.outbox / "resumed.json").read_text(encoding="utf-8"))
    assert (document["size"], document["sha256"]) == (SIZE, hashlib.sha256(data).hexdigest())
    assert ws.events("transcript.incomplete") == []
    assert srv.submissions_by_sha256() == {hashlib.sha256(data).hexdigest(): 1}
    assert len(ws.events("job.published")) == 1 and ws.files("failed") == []
    [waiting] = ws.events("file.unfinished")
    assert waiting["source"] == "resumed.wav"
    reason = f"is truncated: its WAV header declares {SIZE} bytes, {SIZE // 2} are present"
    assert waiting["reason"] == reason


def test_run_writer_that_never_comes_back_is_failed_as_truncated(
    daemon: tuple[FaultServer, Daemon],
) -> None:
    srv, ws = daemon
    data = wav_bytes(random.Random(2), SIZE)
    write_half(ws.inbox / "dropped.wav", data)
    started = time.monotonic()
    report = ws.failed / "dropped.wav.error.json"
    wait_for(report.exists, RUN_TIMEOUT, "dropped.wav in failed/")
    assert time.monotonic() - started >= UNFINISHED_WAIT_SECONDS - 1
    reason = f"is truncated: its WAV header declares {SIZE} bytes, {SIZE // 2} are present"
    assert reason in json.loads(report.read_text(encoding="utf-8"))["error"]
    # The refusal is logged just after its report is written.
    wait_for(lambda: bool(ws.events("file.rejected")), RUN_TIMEOUT, "file.rejected logged")
    [rejected] = ws.events("file.rejected")
    assert (rejected["source"], rejected["reason"]) == ("dropped.wav", reason)
    assert srv.submissions_by_sha256() == {} and ws.events("job.published") == []
