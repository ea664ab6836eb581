"""``dropscribe run`` takes every finished recording from the inbox exactly once.

Each test starts the installed daemon against the fault server, lets a recording arrive the
way a real tool delivers it (cp, mv, rsync's temp-then-rename, a slow recorder, a writer that
closes and reopens, a thousand files at once, awkward names, an inbox re-created), and checks
what came out: one output set per recording, one submission per content, nothing taken early.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from support.daemon import (
    OUTPUT_EXTENSIONS,
    Daemon,
    MakeDaemon,
    drop_all,
    expect_outputs,
    files_under,
    sha256_of,
    wav_bytes,
)
from support.fault_server import FaultServer

#: A slow writer's pause between chunks, in seconds: shorter than settle_seconds (0.5), so a
#: correct daemon never sees the file still for long enough while it grows.
WRITE_PAUSE_SECONDS = 0.3
#: How many chunks a slow writer writes: about three seconds of writing.
WRITE_CHUNKS = 10
#: Bytes a slow writer writes at a time.
CHUNK_BYTES = 4096
#: How many recordings are dropped at once. The issue asks for 1,000; here 1,000 take about
#: 30 s end to end on the 2-core test machine, within the suite's budget.
MANY_FILES = 1000


def claimed_at(daemon: Daemon, source: str) -> float:
    """Return when the daemon claimed ``source`` (epoch seconds, from its audit event)."""
    (event,) = daemon.events("job.claimed", source=source)
    return datetime.fromisoformat(event["timestamp"]).timestamp()


def transcribe_one(daemon: Daemon, deliver: Callable[[], object]) -> None:
    """Start the daemon, deliver one recording with ``deliver()``, wait for its transcript."""
    daemon.start_and_wait()
    deliver()
    daemon.wait_for_published(1)


def test_run_copied_in_file_is_transcribed_once(
    make_daemon: MakeDaemon, server: FaultServer, tmp_path: Path
) -> None:
    daemon = make_daemon()
    source = tmp_path / "elsewhere" / "talk.wav"
    source.parent.mkdir()
    data = wav_bytes("copied", 1024 * 1024)
    source.write_bytes(data)

    transcribe_one(daemon, lambda: subprocess.run(["cp", source, daemon.inbox], check=True))

    assert daemon.outputs() == expect_outputs(["talk"])
    assert server.submissions_by_sha256() == {sha256_of(data): 1}
    assert (daemon.done / "talk.wav").read_bytes() == data


def test_run_moved_in_file_is_transcribed_once(
    make_daemon: MakeDaemon, server: FaultServer
) -> None:
    daemon = make_daemon()
    staged = daemon.root / "staging" / "memo.wav"
    staged.parent.mkdir()
    data = wav_bytes("moved")
    staged.write_bytes(data)

    transcribe_one(daemon, lambda: subprocess.run(["mv", staged, daemon.inbox], check=True))

    assert daemon.outputs() == expect_outputs(["memo"])
    assert server.submissions_by_sha256() == {sha256_of(data): 1}


def test_run_rsync_temp_name_is_never_taken_only_the_renamed_file(
    make_daemon: MakeDaemon, server: FaultServer
) -> None:
    daemon = make_daemon()
    data = wav_bytes("rsynced", 64 * 1024)

    def rsync() -> None:
        # rsync writes ".name.XXXXXX" and renames it when complete; the temp file is left
        # complete and still for longer than settle_seconds, so only its name protects it.
        temp = daemon.inbox / ".song.wav.Xq3Tz9"
        temp.write_bytes(data)
        time.sleep(1.5)
        os.rename(temp, daemon.inbox / "song.wav")

    transcribe_one(daemon, rsync)

    assert daemon.outputs() == expect_outputs(["song"])
    assert server.submissions_by_sha256() == {sha256_of(data): 1}
    assert [e["source"] for e in daemon.events("file.detected")] == ["song.wav"]


def write_slowly(path: Path, data: bytes, *, reopen: bool) -> float:
    """Write ``data`` to ``path`` in chunks with a pause between them, like a recorder; with
    ``reopen``, close the file after every chunk and open it again for the next. Return when
    the last chunk was written (epoch seconds)."""
    chunks = [data[i : i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)]
    handle = path.open("wb")
    try:
        for n, chunk in enumerate(chunks):
            if n:
                time.sleep(WRITE_PAUSE_SECONDS)
            if handle.closed:
                handle = path.open("ab")
            handle.write(chunk)
            handle.flush()
            if reopen:
                handle.close()
        return time.time()
    finally:
        handle.close()


def test_run_slow_writer_is_taken_only_after_its_last_write(
    make_daemon: MakeDaemon, server: FaultServer
) -> None:
    daemon = make_daemon()
    daemon.start_and_wait()
    data = wav_bytes("slow", WRITE_CHUNKS * CHUNK_BYTES)

    last_write = write_slowly(daemon.inbox / "meeting.wav", data, reopen=False)
    daemon.wait_for_published(1)

    assert claimed_at(daemon, "meeting.wav") >= last_write
    assert server.submissions_by_sha256() == {sha256_of(data): 1}


def test_run_writer_that_closes_and_reopens_is_taken_only_after_its_last_write(
    make_daemon: MakeDaemon, server: FaultServer
) -> None:
    daemon = make_daemon()
    daemon.start_and_wait()
    data = wav_bytes("reopened", WRITE_CHUNKS * CHUNK_BYTES)

    last_write = write_slowly(daemon.inbox / "appended.wav", data, reopen=True)
    daemon.wait_for_published(1)

    assert claimed_at(daemon, "appended.wav") >= last_write
    assert server.submissions_by_sha256() == {sha256_of(data): 1}


def test_run_thousand_files_dropped_at_once_are_each_processed_once(
    make_daemon: MakeDaemon, server: FaultServer
) -> None:
    server.polls_before_success = 0
    daemon = make_daemon(workers={"transfers": 4})
    daemon.start_and_wait()
    files = {f"rec{i:04d}.wav": wav_bytes(f"many-{i}") for i in range(MANY_FILES)}

    drop_all(daemon.root / "staging", daemon.inbox, files)
    daemon.wait_for_published(MANY_FILES, timeout=150)

    stems = [name.removesuffix(".wav") for name in files]
    assert daemon.outputs() == expect_outputs(stems)
    assert server.submissions_by_sha256() == {sha256_of(data): 1 for data in files.values()}
    assert files_under(daemon.done) == sorted(files)
    assert len(daemon.events("job.claimed")) == MANY_FILES


#: Legitimate but awkward names, and what must hold for the outputs of each.
AWKWARD_NAMES = {
    "spaces": "my weekly call.wav",
    "unicode": "réunion 会議 ☎.wav",
    "newline": "first line\nsecond line.wav",
    "leading dash": "-rf --no-preserve-root.wav",
    "250 bytes": "é" * 120 + "x" * 6 + ".wav",
}


def test_run_awkward_names_are_transcribed_with_safe_output_names(
    make_daemon: MakeDaemon, server: FaultServer
) -> None:
    daemon = make_daemon()
    daemon.start_and_wait()
    assert len(AWKWARD_NAMES["250 bytes"].encode()) == 250
    files = {name: wav_bytes(name) for name in AWKWARD_NAMES.values()}

    drop_all(daemon.root / "staging", daemon.inbox, files)
    daemon.wait_for_published(len(files))

    sets = daemon.output_sets()
    assert sorted(doc["source"] for doc in sets.values()) == sorted(files)
    for stem in sets:
        assert all((daemon.outbox / f"{stem}.{ext}").is_file() for ext in OUTPUT_EXTENSIONS)
        assert stem.isprintable() and not stem.startswith(("-", ".")), stem
    assert all(len(os.fsencode(name)) <= 255 for name in daemon.outputs())
    assert files_under(daemon.done) == sorted(files)


def test_run_inbox_deleted_and_recreated_still_takes_new_files(
    make_daemon: MakeDaemon, server: FaultServer
) -> None:
    # Without periodic rescans, only a watcher that notices its inbox was replaced finds it.
    daemon = make_daemon(watch={"rescan_seconds": 3600})
    daemon.start_and_wait()

    # Re-created at once: the watcher may never see the inbox missing, only a new folder.
    shutil.rmtree(daemon.inbox)
    daemon.inbox.mkdir()
    (daemon.inbox / "after.wav").write_bytes(wav_bytes("after"))
    daemon.wait_for_published(1)

    assert daemon.outputs() == expect_outputs(["after"])


def test_once_unwatched_extension_logged_once_and_left_and_no_error_line(
    make_daemon: MakeDaemon,
) -> None:
    daemon = make_daemon()
    daemon.inbox.mkdir(parents=True)
    (daemon.inbox / "call.mkv").write_bytes(wav_bytes("video"))
    (daemon.inbox / "talk.wav").write_bytes(wav_bytes("talk"))

    done = daemon.run("once")

    assert done.returncode == 0, done.stderr[-3000:]
    (ignored,) = daemon.events("file.ignored")
    assert ignored["source"] == "call.mkv"
    assert "watch.extensions" in ignored["reason"]
    assert (daemon.inbox / "call.mkv").exists()
    assert daemon.outputs() == expect_outputs(["talk"])
    # A clean run, shutdown included, logs nothing at error level.
    assert [e for e in daemon.events() if e.get("level") in ("error", "critical")] == []
