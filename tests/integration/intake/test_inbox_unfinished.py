"""InboxWatcher and a file shorter than its container declares, on a clock the test moves.

A writer that closes the file, pauses and reopens it leaves a WAV whose RIFF header declares
more bytes than are present: the watcher holds it back until it grows to its length (then
offers it whole) or stays unchanged for ``unfinished_wait_seconds`` (then offers it with its
truncated reason, for the daemon to refuse).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dropscribe.core.watch_mode import WatchMode
from dropscribe.intake.inbox import UNFINISHED_CHECK_SECONDS, Entry, InboxWatcher

SETTLE = 2.0
WAIT = 30.0  # unfinished_wait_seconds on the manual clock
PARKED = 3600.0  # check_interval of a settle thread that never ticks in a test
SIZE = 20_000


def wav(size: int) -> bytes:
    """Return a whole WAV of ``size`` bytes: its RIFF and data chunk sizes say so."""
    fmt = b"fmt " + (16).to_bytes(4, "little") + bytes.fromhex("01000100803e0000007d000002001000")
    body = b"WAVE" + fmt + b"data" + (size - 44).to_bytes(4, "little")
    return b"RIFF" + (size - 8).to_bytes(4, "little") + body + bytes(size - 44)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[tuple[InboxWatcher, Clock, list[Entry], list[str]]]:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    clock = Clock()
    offered: list[Entry] = []
    waits: list[str] = []
    watcher = InboxWatcher(
        inbox,
        on_ready=offered.append,
        mode=WatchMode.POLLING,
        recursive=True,
        settle_seconds=SETTLE,
        rescan_seconds=1.0,
        extensions=("wav",),
        ignore=(),
        unfinished_wait_seconds=WAIT,
        check_interval=PARKED,
        clock=clock,
        wall_clock=lambda: 0.0,  # every ctime lies in the future: nothing is "long still"
        on_unfinished=lambda rel, reason: waits.append(reason),
    )
    watcher.start()
    yield watcher, clock, offered, waits
    watcher.stop()


def run_for(watcher: InboxWatcher, clock: Clock, seconds: float) -> None:
    """Tick every UNFINISHED_CHECK_SECONDS for ``seconds`` of the manual clock."""
    end = clock.now + seconds
    while clock.now < end:
        watcher.tick()
        clock.now += UNFINISHED_CHECK_SECONDS
    watcher.tick()


def test_watcher_half_written_wav_waits_then_is_offered_whole(
    watched: tuple[InboxWatcher, Clock, list[Entry], list[str]], tmp_path: Path
) -> None:
    watcher, clock, offered, waits = watched
    path = tmp_path / "inbox" / "x.wav"
    data = wav(SIZE)
    path.write_bytes(data[: SIZE // 2])
    run_for(watcher, clock, WAIT - SETTLE - 5)  # settled long ago, within the wait
    assert offered == [] and waits == [
        f"is truncated: its WAV header declares {SIZE} bytes, {SIZE // 2} are present"
    ]
    with path.open("ab") as out:
        out.write(data[SIZE // 2 :])
    run_for(watcher, clock, SETTLE + 2)
    assert offered == [Entry(path, "x.wav")]
    assert path.read_bytes() == data


def test_watcher_growth_restarts_the_unfinished_wait(
    watched: tuple[InboxWatcher, Clock, list[Entry], list[str]], tmp_path: Path
) -> None:
    watcher, clock, offered, waits = watched
    path = tmp_path / "inbox" / "x.wav"
    data = wav(SIZE)
    path.write_bytes(data[: SIZE // 4])
    run_for(watcher, clock, WAIT - 5)
    with path.open("ab") as out:
        out.write(data[SIZE // 4 : SIZE // 2])
    run_for(watcher, clock, WAIT - 5)  # the wait began again with the growth
    assert offered == [] and len(waits) == 2


def test_watcher_wav_that_never_grows_is_offered_as_truncated_after_the_wait(
    watched: tuple[InboxWatcher, Clock, list[Entry], list[str]], tmp_path: Path
) -> None:
    watcher, clock, offered, waits = watched
    path = tmp_path / "inbox" / "x.wav"
    path.write_bytes(wav(SIZE)[: SIZE // 2])
    run_for(watcher, clock, WAIT - 2)
    assert offered == []
    run_for(watcher, clock, 3)
    reason = f"is truncated: its WAV header declares {SIZE} bytes, {SIZE // 2} are present"
    assert offered == [Entry(path, "x.wav", reason)] and waits == [reason]


def test_watcher_streaming_wav_header_is_offered_once_settled(
    watched: tuple[InboxWatcher, Clock, list[Entry], list[str]], tmp_path: Path
) -> None:
    watcher, clock, offered, waits = watched
    path = tmp_path / "inbox" / "x.wav"
    data = bytearray(wav(SIZE)[: SIZE // 2])
    data[4:8] = b"\xff\xff\xff\xff"  # a writer that could not seek back: cannot tell
    path.write_bytes(data)
    run_for(watcher, clock, SETTLE + 2)
    assert offered == [Entry(path, "x.wav")] and waits == []
