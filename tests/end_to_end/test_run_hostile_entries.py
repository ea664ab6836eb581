"""``dropscribe run`` refuses hostile inbox entries safely and keeps working.

Each entry is one the issue lists: a symlink, a FIFO, a socket, a hard link to a file
elsewhere, an empty file, a file over ``watch.max_file_mb``, and text under an audio extension.
Each must end in failed/ with ``<name>.error.json`` giving the reason, be announced by a
``file.rejected`` audit event, lose nothing the user had, and leave the daemon running and
still transcribing the next good recording.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from support.daemon import Daemon, MakeDaemon, expect_outputs, wav_bytes
from support.fault_server import FaultServer

MIB = 1024 * 1024
NAME = "entry.wav"


@contextmanager
def symlink(daemon: Daemon) -> Iterator[Callable[[], None]]:
    target = daemon.root / "real.wav"
    target.write_bytes(wav_bytes("target"))
    (daemon.inbox / NAME).symlink_to(target)
    yield lambda: assert_unchanged(target, wav_bytes("target"))


@contextmanager
def fifo(daemon: Daemon) -> Iterator[Callable[[], None]]:
    os.mkfifo(daemon.inbox / NAME)
    yield lambda: None


@contextmanager
def unix_socket(daemon: Daemon) -> Iterator[Callable[[], None]]:
    # Bound through a relative path: an AF_UNIX address is limited to 108 bytes.
    here = os.getcwd()
    os.chdir(daemon.inbox)
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.bind(NAME)
            os.chdir(here)
            yield lambda: None
    finally:
        os.chdir(here)


@contextmanager
def hard_link(daemon: Daemon) -> Iterator[Callable[[], None]]:
    original = daemon.root / "original.wav"
    original.write_bytes(wav_bytes("original"))
    os.link(original, daemon.inbox / NAME)
    yield lambda: assert_unchanged(original, wav_bytes("original"))


@contextmanager
def empty(daemon: Daemon) -> Iterator[Callable[[], None]]:
    (daemon.inbox / NAME).write_bytes(b"")
    yield lambda: None


@contextmanager
def too_big(daemon: Daemon) -> Iterator[Callable[[], None]]:
    data = wav_bytes("big", 2 * MIB)  # watch.max_file_mb is 1 in these tests
    staged = daemon.root / NAME
    staged.write_bytes(data)
    os.rename(staged, daemon.inbox / NAME)
    yield lambda: assert_unchanged(daemon.failed / NAME, data)


@contextmanager
def not_audio(daemon: Daemon) -> Iterator[Callable[[], None]]:
    text = b"Minutes of the meeting: nothing to transcribe here.\n" * 20
    (daemon.inbox / NAME).write_bytes(text)
    yield lambda: assert_unchanged(daemon.failed / NAME, text)


def assert_unchanged(path: Path, data: bytes) -> None:
    assert path.read_bytes() == data, f"{path} was changed"


#: Each hostile entry: how to make it, and words its rejection reason must contain.
HOSTILE = {
    "symlink": (symlink, "symbolic link"),
    "fifo": (fifo, "FIFO"),
    "socket": (unix_socket, "socket"),
    "hard link": (hard_link, "hard link"),
    "zero bytes": (empty, "empty"),
    "over max_file_mb": (too_big, "larger"),
    "not audio": (not_audio, "does not contain"),
}


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_run_hostile_entry_ends_in_failed_with_reason_and_daemon_goes_on(
    kind: str, make_daemon: MakeDaemon, server: FaultServer
) -> None:
    make_entry, reason = HOSTILE[kind]
    daemon = make_daemon(watch={"max_file_mb": 1})
    daemon.start_and_wait()

    with make_entry(daemon) as check_nothing_lost:
        (rejected,) = daemon.wait_for_event("file.rejected", source=NAME)
        report = (daemon.failed / f"{NAME}.error.json").read_text(encoding="utf-8")
        assert reason in rejected["reason"]
        assert reason in report
        assert os.path.lexists(daemon.failed / NAME)
        assert not os.path.lexists(daemon.inbox / NAME)
        check_nothing_lost()

    (daemon.inbox / "good.wav").write_bytes(wav_bytes("good"))
    daemon.wait_for_published(1)
    assert daemon.outputs() == expect_outputs(["good"])
    assert server.submissions_total() == 1
    assert daemon.running()
