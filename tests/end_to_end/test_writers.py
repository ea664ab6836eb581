"""A recording is taken only when its writer is done: ``dropscribe run`` (native watching,
settle 0.5 s) against real writer processes that stall, append, hold the file open, or write
in scp-like chunks, and an rsync-like writer that renames a finished temporary file in.

Every run checks the one thing that went wrong before: the transcript published is of the
whole file (its .json records the size and sha256 the service was sent), submitted once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.daemon import Daemon, wait_for
from support.fault_server import FaultServer
from support.suite_daemon import CANARY_KEY, suite_daemon, wav_bytes

RUN_TIMEOUT = 60.0
SETTLE_SECONDS = 0.5
#: A stall well past the settle time (seconds), as scp or Samba make on a slow link.
STALL_SECONDS = 3.0

#: A writer: ``python -c WRITER path data-file plan``; the plan is a JSON list of steps:
#: ["write", n] writes the next n bytes, ["sleep", s] waits, ["reopen"] closes and reopens
#: for appending, ["close"] closes (what is left is written first).
WRITER = textwrap.dedent(
    """
    import json, sys, time
    path, source, plan = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    data = open(source, "rb").read()
    done = 0
    out = open(path, "wb")
    for step in plan:
        if step[0] == "write":
            out.write(data[done:done + step[1]]); out.flush(); done += step[1]
        elif step[0] == "sleep":
            time.sleep(step[1])
        elif step[0] == "reopen":
            out.close(); out = open(path, "ab")
    out.write(data[done:]); out.close()
    """
)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[FaultServer, Daemon]]:
    with running(tmp_path, "native") as pair:
        yield pair


@pytest.fixture
def polling_daemon(tmp_path: Path) -> Iterator[tuple[FaultServer, Daemon]]:
    with running(tmp_path, "polling") as pair:
        yield pair


@contextlib.contextmanager
def running(tmp_path: Path, mode: str) -> Iterator[tuple[FaultServer, Daemon]]:
    with contextlib.ExitStack() as stack:
        srv = stack.enter_context(FaultServer(token=CANARY_KEY, polls_before_success=1))
        watch = {"settle_seconds": SETTLE_SECONDS, "rescan_seconds": 5, "mode": mode}
        ws = stack.enter_context(contextlib.closing(suite_daemon(tmp_path, srv, watch=watch)))
        ws.inbox.mkdir(parents=True, exist_ok=True)
        ws.start("run", "--log-format", "json")
        wait_for(lambda: bool(ws.events("daemon.started")), RUN_TIMEOUT, "daemon.started")
        yield srv, ws


def recording(size: int = 1_000_000) -> bytes:
    return wav_bytes(random.Random(size), size)


def start_writer(
    ws: Daemon, name: str, data: bytes, plan: list[list[object]]
) -> subprocess.Popen[bytes]:
    source = ws.root / f"{name}.source"
    source.write_bytes(data)
    argv = [sys.executable, "-c", WRITER, str(ws.inbox / name), str(source), json.dumps(plan)]
    return subprocess.Popen(argv)


def published_whole(srv: FaultServer, ws: Daemon, name: str, data: bytes) -> dict[str, object]:
    """Wait for the transcript of ``name``; check it is of all of ``data``, sent once."""
    stem = Path(name).stem
    wait_for(lambda: (ws.done / name).exists(), RUN_TIMEOUT, f"{name} in done/")
    document = json.loads((ws.outbox / f"{stem}.json").read_text(encoding="utf-8"))
    assert (document["size"], document["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
    assert (ws.done / name).read_bytes() == data
    assert srv.submissions_by_sha256() == {hashlib.sha256(data).hexdigest(): 1}
    assert ws.events("job.failed") == [] and ws.files("failed") == []
    return dict(document)


def held_then_published(
    srv: FaultServer, ws: Daemon, name: str, data: bytes, plan: list[list[object]]
) -> None:
    """Run a writer that keeps ``name`` open through a stall; while it does, the file is not
    claimed and stays in the inbox; once it closes, the file is published whole."""
    writer = start_writer(ws, name, data, plan)
    time.sleep(STALL_SECONDS - 1.0)
    assert ws.events("job.claimed") == [] and (ws.inbox / name).exists()
    assert writer.wait(RUN_TIMEOUT) == 0
    published_whole(srv, ws, name, data)


def test_run_writer_stalling_past_the_settle_time_is_taken_whole(
    daemon: tuple[FaultServer, Daemon],
) -> None:
    srv, ws = daemon
    data = recording()
    # Stalled but open: not taken.
    held_then_published(srv, ws, "x.wav", data, [["write", 500_000], ["sleep", STALL_SECONDS]])


def test_run_writer_holding_the_file_open_without_writing_is_not_taken(
    daemon: tuple[FaultServer, Daemon],
) -> None:
    srv, ws = daemon
    data = recording(300_000)
    plan: list[list[object]] = [["write", len(data)], ["sleep", STALL_SECONDS]]
    held_then_published(srv, ws, "held.wav", data, plan)


def test_run_polling_observer_writer_holding_the_file_open_is_not_taken(
    polling_daemon: tuple[FaultServer, Daemon],
) -> None:
    # Polling sees no closes: the settle time and the /proc check are all there is.
    srv, ws = polling_daemon
    data = recording(300_000)
    held_then_published(srv, ws, "nfs.wav", data, [["write", 150_000], ["sleep", STALL_SECONDS]])


def test_run_appending_writer_with_pauses_is_taken_whole(
    daemon: tuple[FaultServer, Daemon],
) -> None:
    srv, ws = daemon
    data = recording(600_000)
    plan: list[list[object]] = []
    for _ in range(5):  # a recorder appending a chunk every 1.2 s
        plan += [["write", 100_000], ["sleep", 1.2]]
    writer = start_writer(ws, "rec.wav", data, plan)
    assert writer.wait(RUN_TIMEOUT) == 0
    published_whole(srv, ws, "rec.wav", data)


def test_run_scp_like_chunked_writes_with_a_stall_are_taken_whole(
    daemon: tuple[FaultServer, Daemon],
) -> None:
    srv, ws = daemon
    data = recording(1_200_000)
    rng = random.Random(5)
    plan: list[list[object]] = []
    for n in range(18):
        plan += [["write", 65_536], ["sleep", round(rng.uniform(0.0, 0.3), 3)]]
        if n == 9:
            plan.append(["sleep", 2.0])  # the link stalls mid-file
    writer = start_writer(ws, "scp.wav", data, plan)
    assert writer.wait(RUN_TIMEOUT) == 0
    published_whole(srv, ws, "scp.wav", data)


def test_run_rsync_like_temporary_name_and_rename_is_taken_promptly(
    daemon: tuple[FaultServer, Daemon],
) -> None:
    srv, ws = daemon
    data = recording(400_000)
    writer = start_writer(ws, ".sync.wav.XyZ12", data, [["write", 200_000], ["sleep", 1.0]])
    assert writer.wait(RUN_TIMEOUT) == 0
    (ws.inbox / ".sync.wav.XyZ12").rename(ws.inbox / "sync.wav")
    renamed = time.monotonic()
    published_whole(srv, ws, "sync.wav", data)
    claimed = ws.events("job.claimed", source="sync.wav")
    assert claimed, "never claimed"
    # No close is awaited for a file moved in: the claim follows the settle time.
    assert time.monotonic() - renamed < 20.0
