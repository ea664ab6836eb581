"""The inbox watcher on trees nested far too deep, with real folders and real observers: the
folder is refused once with a reason, nothing recurses, the watcher polls by itself instead of
observing, and recordings beside it are still offered.

The watcher runs on a manual clock and its settle thread never ticks by itself (see
test_inbox_detection); only watchdog's own threads take real time.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dropscribe.core.watch_mode import WatchMode
from dropscribe.intake.inbox import OWN_POLL_SECONDS, Entry, InboxWatcher
from dropscribe.intake.observers import (
    OBSERVER_RETRY_SECONDS,
    ObserverUnavailable,
    launch_observer,
    stop_observer,
)
from support.deep_tree import PAST_RECURSION_LIMIT, make_deep, remove_deep

AUDIO = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 48
SETTLE = 2.0  # settle_seconds, on the manual clock
MAX_DEPTH = 32  # the default cap
PARKED = 3600.0  # check_interval (real seconds) of a settle thread that never ticks in a test
DEADLINE = 10.0  # real seconds anything expected may take on a busy machine
EVENT_POLL = 0.02  # real seconds between ticks while waiting for watchdog's threads
REFUSED = "/".join(["d"] * (MAX_DEPTH + 1))  # the shallowest folder past the cap


class Recorder:
    """The watcher's callbacks: what was offered (then moved away), refused and reported."""

    def __init__(self, claimed: Path) -> None:
        self.claimed = claimed
        self.offered: list[str] = []
        self.refused: list[tuple[str, str]] = []
        self.problems: list[str] = []

    def on_ready(self, entry: Entry) -> None:
        self.offered.append(entry.rel)
        os.rename(entry.path, self.claimed / entry.rel.replace("/", "__"))


class ManualClock:
    """A monotonic clock that moves only when the test moves it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Driver:
    """A watcher on a manual clock; ``now`` moves the clock."""

    def __init__(self, watcher: InboxWatcher, recorder: Recorder, clock: ManualClock) -> None:
        self.watcher = watcher
        self.recorder = recorder
        self._clock = clock

    @property
    def now(self) -> float:
        return self._clock.now

    @now.setter
    def now(self, value: float) -> None:
        self._clock.now = value

    def kind(self) -> WatchMode:
        """How the watcher watches now (read afresh each call)."""
        return self.watcher.observer_kind

    def tick_until(self, done: Callable[[], bool], what: str) -> None:
        """Tick, a settle time apart on the clock, until ``done()``; fail after DEADLINE."""
        deadline = time.monotonic() + DEADLINE
        while not done():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            self.watcher.tick()
            self.now += SETTLE
            time.sleep(EVENT_POLL)


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "inbox"
    path.mkdir()
    yield path
    remove_deep(path / "d")  # pytest's clean-up would recurse into it


@pytest.fixture
def staging(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "staging"
    path.mkdir()
    yield path
    remove_deep(path / "d")


@pytest.fixture
def watch(inbox: Path, tmp_path: Path) -> Iterator[Callable[..., Driver]]:
    started: list[InboxWatcher] = []

    def start(mode: WatchMode = WatchMode.AUTO) -> Driver:
        (tmp_path / "claimed").mkdir(exist_ok=True)
        recorder = Recorder(tmp_path / "claimed")
        clock = ManualClock()
        watcher = InboxWatcher(
            inbox,
            on_ready=recorder.on_ready,
            mode=mode,
            recursive=True,
            settle_seconds=SETTLE,
            rescan_seconds=3600.0,
            extensions=("wav",),
            ignore=(".*",),
            max_depth=MAX_DEPTH,
            check_interval=PARKED,
            clock=clock,
            on_problem=recorder.problems.append,
            on_refused=lambda rel, why: recorder.refused.append((rel, why)),
        )
        driver = Driver(watcher, recorder, clock)
        watcher.start()
        started.append(watcher)
        return driver

    yield start
    for watcher in started:
        watcher.stop(timeout=5.0)


def test_launch_native_observer_on_tree_past_recursion_limit_is_unavailable(inbox: Path) -> None:
    # watchdog's own walk of the tree recurses: what the watcher must never let loose. (Its
    # poller fails the same way, leaking open folder iterators: the watcher starts neither.)
    make_deep(inbox, PAST_RECURSION_LIMIT)
    with pytest.raises(ObserverUnavailable, match="nested too deep"):
        observer = launch_observer(
            WatchMode.NATIVE, inbox, recursive=True, note=lambda path, kind: None
        )
        stop_observer(observer, 5.0)


@pytest.mark.parametrize("mode", [WatchMode.AUTO, WatchMode.NATIVE, WatchMode.POLLING])
def test_watcher_deep_folder_at_start_refused_once_and_file_beside_offered(
    inbox: Path, watch: Callable[..., Driver], mode: WatchMode
) -> None:
    make_deep(inbox, PAST_RECURSION_LIMIT, leaf="deepest.wav")
    (inbox / "beside.wav").write_bytes(AUDIO)
    driver = watch(mode)
    driver.tick_until(lambda: driver.recorder.offered == ["beside.wav"], "beside.wav")
    for _ in range(3):  # full scans, each second while it polls: still refused only once
        driver.now += OWN_POLL_SECONDS
        driver.watcher.tick()
    assert driver.recorder.refused == [(REFUSED, driver.recorder.refused[0][1])]
    assert "more than 32 folders deep" in driver.recorder.refused[0][1]
    assert driver.kind() is WatchMode.POLLING
    assert driver.watcher.is_alive()


def test_watcher_file_at_the_cap_offered_and_one_level_below_not(
    inbox: Path, watch: Callable[..., Driver]
) -> None:
    make_deep(inbox, MAX_DEPTH, leaf="at_cap.wav")
    make_deep(inbox / "/".join(["d"] * MAX_DEPTH), 1, name="e", leaf="below.wav")
    driver = watch()
    at_cap = "/".join(["d"] * MAX_DEPTH) + "/at_cap.wav"
    driver.tick_until(lambda: driver.recorder.offered == [at_cap], "the file at the cap")
    assert [rel for rel, _ in driver.recorder.refused] == ["/".join(["d"] * MAX_DEPTH) + "/e"]


# watchdog's event thread dies of the RecursionError in its own walk of the folder moved in
# (an unhandled thread exception): that death is what the watcher must notice and survive.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_watcher_deep_folder_moved_in_while_observing_polls_and_keeps_offering(
    inbox: Path, staging: Path, watch: Callable[..., Driver]
) -> None:
    driver = watch(WatchMode.NATIVE)
    assert driver.kind() is WatchMode.NATIVE
    make_deep(staging, PAST_RECURSION_LIMIT)
    os.rename(staging / "d", inbox / "d")  # whole, as `mv` does: watchdog walks it at once
    (inbox / "after.wav").write_bytes(AUDIO)
    driver.tick_until(lambda: driver.recorder.offered == ["after.wav"], "after.wav")
    assert [rel for rel, _ in driver.recorder.refused] == [REFUSED]
    assert driver.recorder.problems, "the end of observing was not reported"
    assert driver.kind() is WatchMode.POLLING
    assert driver.watcher.is_alive()


def test_watcher_observes_again_once_the_deep_folder_is_gone(
    inbox: Path, watch: Callable[..., Driver]
) -> None:
    make_deep(inbox, MAX_DEPTH + 1)
    driver = watch(WatchMode.NATIVE)
    assert driver.kind() is WatchMode.POLLING
    remove_deep(inbox / "d")
    driver.now += OBSERVER_RETRY_SECONDS
    driver.watcher.tick()  # a scan finds the tree within the cap again
    driver.watcher.tick()
    assert driver.kind() is WatchMode.NATIVE
    make_deep(inbox, MAX_DEPTH + 1)  # back: refused again, by the next scan
    driver.watcher.rescan_now()
    driver.watcher.tick()
    assert [rel for rel, _ in driver.recorder.refused] == [REFUSED, REFUSED]
