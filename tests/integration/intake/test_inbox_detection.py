"""InboxWatcher with real files and real watchdog observers, in both observer modes.

The callback plays the part of the pipeline's claim: it records what it saw and moves the
entry out of the inbox, so "reported exactly once" is tested the way the daemon uses it.

Settling runs on a clock the test moves by hand. Each watcher is started with a settle thread
that waits an hour between ticks, so its ticks are the test's own calls of ``tick()`` and a
settle time passes when the test advances the clock, never by sleeping. What is still waited
for in real time is watchdog's events (the polling observer snapshots every 0.25 s).
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dropscribe.config import Watch
from dropscribe.core.watch_mode import WatchMode
from dropscribe.intake import inbox as inbox_module
from dropscribe.intake.inbox import Entry, InboxWatcher

AUDIO = b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 48
SETTLE = Watch().settle_seconds  # the default: on the manual clock it costs no real time
RESCAN = Watch().rescan_seconds  # the default, on the manual clock too
PARKED = 3600.0  # check_interval (real seconds) of a settle thread that never ticks in a test
TICK = 0.05  # real seconds between the checks of the one test that lets the thread tick
EVENT_POLL = 0.01  # real seconds between ticks while waiting for watchdog's events
DEADLINE = 10.0  # real seconds any expected delivery may take, generous for a busy machine


class ManualClock:
    """A monotonic clock that moves only when the test advances it."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Claimer:
    """Records each offered entry (its size at that moment) and moves it away."""

    def __init__(self, claimed: Path, *, move: bool = True) -> None:
        self.claimed = claimed
        self.move = move
        self.seen: list[tuple[str, int]] = []
        self.problems: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, entry: Entry) -> None:
        size = os.lstat(entry.path).st_size
        with self.lock:
            self.seen.append((entry.rel, size))
        if self.move:
            target = self.claimed / entry.rel.replace("/", "__")
            os.rename(entry.path, target)

    def rels(self) -> list[str]:
        with self.lock:
            return [rel for rel, _ in self.seen]


class Driver:
    """A started watcher, its manual clock and its claimer: the test's ways of moving them."""

    def __init__(self, watcher: InboxWatcher, clock: ManualClock, claimer: Claimer) -> None:
        self.watcher = watcher
        self.clock = clock
        self.claimer = claimer

    def wait_for(self, count: int, timeout: float = DEADLINE) -> list[str]:
        """Tick until ``count`` entries were claimed, letting a settle time pass after each
        tick that leaves a candidate waiting; only watchdog's events take real time."""
        deadline = time.monotonic() + timeout
        while len(self.claimer.rels()) < count and time.monotonic() < deadline:
            self.watcher.tick()
            if self.watcher.pending_count():
                self.clock.advance(SETTLE)
            time.sleep(EVENT_POLL)
        return self.claimer.rels()

    def let_settle(self, *, scan: bool) -> None:
        """Let three settle times pass over four ticks, after a full scan with ``scan``, so
        whatever the watcher could offer by now it has offered."""
        if scan:
            self.watcher.rescan_now()
        for _ in range(3):
            self.watcher.tick()
            self.clock.advance(SETTLE)
        self.watcher.tick()


@pytest.fixture(params=[WatchMode.NATIVE, WatchMode.POLLING], ids=["native", "polling"])
def mode(request: pytest.FixtureRequest) -> WatchMode:
    return WatchMode(request.param)


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    path = tmp_path / "inbox"
    path.mkdir()
    return path


@pytest.fixture
def claimer(tmp_path: Path) -> Claimer:
    claimed = tmp_path / "claimed"
    claimed.mkdir()
    return Claimer(claimed)


@pytest.fixture
def watch(inbox: Path, claimer: Claimer, mode: WatchMode) -> Iterator[Callable[..., Driver]]:
    started: list[InboxWatcher] = []

    def start(**overrides: object) -> Driver:
        defaults = Watch()
        clock = ManualClock()
        options: dict[str, object] = {
            "on_ready": claimer,
            "mode": mode,
            "recursive": defaults.recursive,
            "rescan_seconds": RESCAN,
            "extensions": defaults.extensions,
            "ignore": defaults.ignore,
            "settle_seconds": SETTLE,
            "check_interval": PARKED,
            "clock": clock,
            "on_problem": claimer.problems.append,
        }
        options.update(overrides)
        watcher = InboxWatcher(inbox, **options)  # type: ignore[arg-type]
        watcher.start()
        started.append(watcher)
        return Driver(watcher, clock, claimer)

    yield start
    for watcher in started:
        watcher.stop(timeout=5.0)


def test_watcher_mode_runs_requested_observer(watch: Callable[..., Driver], mode: WatchMode
                                              ) -> None:  # fmt: skip
    watcher = watch().watcher
    assert watcher.observer_kind is mode
    assert watcher.is_alive()


def test_watcher_settle_thread_offers_without_being_driven(
    inbox: Path, claimer: Claimer, watch: Callable[..., Driver]
) -> None:
    # The real clock and a ticking thread: nothing but the thread looks at the inbox.
    watch(clock=time.monotonic, settle_seconds=0.0, check_interval=TICK)
    (inbox / "free.wav").write_bytes(AUDIO)
    deadline = time.monotonic() + DEADLINE
    while not claimer.rels() and time.monotonic() < deadline:
        time.sleep(TICK)
    assert claimer.rels() == ["free.wav"]


def test_watcher_file_present_at_start_reported_once(
    inbox: Path, claimer: Claimer, watch: Callable[..., Driver]
) -> None:
    (inbox / "early.wav").write_bytes(AUDIO)
    assert watch().wait_for(1) == ["early.wav"]


def test_watcher_file_settling_not_offered_before_settle_seconds(
    inbox: Path, claimer: Claimer, watch: Callable[..., Driver]
) -> None:
    (inbox / "early.wav").write_bytes(AUDIO)
    driver = watch()
    driver.clock.advance(SETTLE * 0.9)
    driver.watcher.tick()
    assert claimer.rels() == []
    driver.clock.advance(SETTLE * 0.1)
    driver.watcher.tick()
    assert claimer.rels() == ["early.wav"]


def test_watcher_file_still_since_before_start_taken_without_waiting_to_settle(
    inbox: Path, claimer: Claimer, watch: Callable[..., Driver]
) -> None:
    old, new = inbox / "z-old.wav", inbox / "a-new.wav"
    old.write_bytes(AUDIO)
    new.write_bytes(AUDIO)
    while os.stat(new).st_ctime - os.stat(old).st_ctime < 0.002:  # ctime moves coarsely
        time.sleep(0.001)
        new.write_bytes(AUDIO)
    old_ctime, new_ctime = os.stat(old).st_ctime, os.stat(new).st_ctime
    # The wall clock reads a moment when the old file has been still for a little longer
    # than the settle time, and the new one for a little less.
    now = old_ctime + SETTLE + (new_ctime - old_ctime) / 2
    driver = watch(wall_clock=lambda: now)
    # Both are seen at the start's scan: the old one is offered then, the new one must settle.
    assert claimer.rels() == ["z-old.wav"]
    assert driver.wait_for(2) == ["z-old.wav", "a-new.wav"]


def test_watcher_cp_copy_reported_once_with_full_size(
    tmp_path: Path, inbox: Path, claimer: Claimer, watch: Callable[..., Driver]
) -> None:
    driver = watch()
    source = tmp_path / "src.wav"
    source.write_bytes(AUDIO * 100)
    shutil.copyfile(source, inbox / "copied.wav")
    driver.wait_for(1)
    driver.let_settle(scan=True)
    assert claimer.seen == [("copied.wav", len(AUDIO) * 100)]


def test_watcher_mv_within_filesystem_reported_once(
    tmp_path: Path, inbox: Path, claimer: Claimer, watch: Callable[..., Driver]
) -> None:
    driver = watch()
    source = tmp_path / "moved.wav"
    source.write_bytes(AUDIO)
    os.rename(source, inbox / "moved.wav")
    assert driver.wait_for(1) == ["moved.wav"]
    driver.let_settle(scan=True)
    assert claimer.rels() == ["moved.wav"]


def test_watcher_rsync_temp_then_rename_reports_final_name_only(
    inbox: Path, claimer: Claimer, watch: Callable[..., Driver]
) -> None:
    driver = watch()
    temp = inbox / ".synced.wav.Xa81Qz"
    temp.write_bytes(AUDIO)
    driver.let_settle(scan=True)  # long enough that the temp name would have settled
    assert claimer.rels() == []
    os.rename(temp, inbox / "synced.wav")
    driver.wait_for(1)
    driver.let_settle(scan=True)
    assert claimer.rels() == ["synced.wav"]


def test_watcher_slow_writer_never_taken_early(
    inbox: Path, claimer: Claimer, watch: Callable[..., Driver]
) -> None:
    driver = watch()
    with open(inbox / "slow.wav", "wb") as handle:
        for _ in range(10):  # a chunk after each pause a little shorter than settle_seconds
            handle.write(AUDIO)
            handle.flush()
            driver.watcher.rescan_now()
            driver.watcher.tick()
            driver.clock.advance(SETTLE * 0.9)
            driver.watcher.tick()
    assert claimer.rels() == []
    driver.wait_for(1)
    assert claimer.seen == [("slow.wav", len(AUDIO) * 10)]


def test_watcher_writer_reopens_and_appends_taken_once_at_final_size(
    inbox: Path, claimer: Claimer, watch: Callable[..., Driver]
) -> None:
    driver = watch()
    path = inbox / "reopened.wav"
    path.write_bytes(AUDIO)
    driver.watcher.rescan_now()
    driver.watcher.tick()
    driver.clock.advance(SETTLE * 0.4)  # closed, but for less than settle_seconds
    driver.watcher.tick()
    with open(path, "ab") as handle:
        handle.write(AUDIO)
    driver.wait_for(1)
    driver.let_settle(scan=True)
    assert claimer.seen == [("reopened.wav", 2 * len(AUDIO))]


def test_watcher_thousand_files_each_reported_exactly_once(
    tmp_path: Path, inbox: Path, claimer: Claimer, watch: Callable[..., Driver]
) -> None:
    driver = watch()
    staging = tmp_path / "staging"
    staging.mkdir()
    for number in range(1000):
        (staging / f"f{number:04}.wav").write_bytes(AUDIO)
    for path in staging.iterdir():
        os.rename(path, inbox / path.name)
    driver.wait_for(1000, timeout=30.0)
    driver.let_settle(scan=True)
    counts = Counter(claimer.rels())
    assert len(counts) == 1000
    assert set(counts.values()) == {1}


def test_watcher_ignored_and_foreign_names_skipped(
    inbox: Path, claimer: Claimer, watch: Callable[..., Driver]
) -> None:
    driver = watch()
    for name in [".hidden.wav", "x.wav.part", "y.tmp", "~$z.wav", ".syncthing.a.wav.tmp", "n.txt"]:
        (inbox / name).write_bytes(AUDIO)
    (inbox / ".stversions").mkdir()
    (inbox / ".stversions" / "old.wav").write_bytes(AUDIO)
    (inbox / "ok.wav").write_bytes(AUDIO)
    driver.wait_for(1)
    driver.let_settle(scan=True)
    assert claimer.rels() == ["ok.wav"]


def test_watcher_recursive_subfolders_keep_relative_path(
    inbox: Path, claimer: Claimer, watch: Callable[..., Driver]
) -> None:
    driver = watch()
    (inbox / "a" / "b").mkdir(parents=True)
    (inbox / "a" / "b" / "deep.wav").write_bytes(AUDIO)
    assert driver.wait_for(1) == ["a/b/deep.wav"]


def test_watcher_folder_moved_in_reports_its_files(
    tmp_path: Path, inbox: Path, claimer: Claimer, watch: Callable[..., Driver]
) -> None:
    driver = watch()
    album = tmp_path / "album"
    album.mkdir()
    (album / "one.wav").write_bytes(AUDIO)
    (album / "two.wav").write_bytes(AUDIO)
    os.rename(album, inbox / "album")
    assert sorted(driver.wait_for(2)) == ["album/one.wav", "album/two.wav"]


def test_watcher_not_recursive_ignores_subfolders(
    inbox: Path, claimer: Claimer, watch: Callable[..., Driver]
) -> None:
    driver = watch(recursive=False)
    (inbox / "sub").mkdir()
    (inbox / "sub" / "deep.wav").write_bytes(AUDIO)
    (inbox / "top.wav").write_bytes(AUDIO)
    driver.wait_for(1)
    driver.let_settle(scan=True)
    assert claimer.rels() == ["top.wav"]


def test_watcher_hostile_entries_offered_for_the_caller_to_fail(
    tmp_path: Path, inbox: Path, claimer: Claimer, watch: Callable[..., Driver]
) -> None:
    driver = watch()
    outside = tmp_path / "secret.wav"
    outside.write_bytes(AUDIO)
    (inbox / "link.wav").symlink_to(outside)
    (inbox / "dirlink").symlink_to(tmp_path)
    os.mkfifo(inbox / "pipe.wav")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(inbox / "sock"))
        assert sorted(driver.wait_for(4)) == ["dirlink", "link.wav", "pipe.wav", "sock"]
    assert outside.read_bytes() == AUDIO


def test_watcher_unchanged_file_left_in_place_not_offered_again(
    inbox: Path, claimer: Claimer, watch: Callable[..., Driver]
) -> None:
    claimer.move = False
    driver = watch()
    (inbox / "stays.wav").write_bytes(AUDIO)
    driver.wait_for(1)
    driver.let_settle(scan=True)
    assert claimer.rels() == ["stays.wav"]
    with open(inbox / "stays.wav", "ab") as handle:
        handle.write(AUDIO)
    assert driver.wait_for(2) == ["stays.wav", "stays.wav"]


def test_watcher_callback_raising_is_retried(
    inbox: Path, claimer: Claimer, watch: Callable[..., Driver]
) -> None:
    calls: list[str] = []

    def flaky(entry: Entry) -> None:
        calls.append(entry.rel)
        if len(calls) == 1:
            raise RuntimeError("queue full")
        claimer(entry)

    driver = watch(on_ready=flaky)
    (inbox / "retry.wav").write_bytes(AUDIO)
    assert driver.wait_for(1) == ["retry.wav"]
    assert calls == ["retry.wav", "retry.wav"]


def test_watcher_missed_event_found_by_rescan_now(
    inbox: Path,
    claimer: Claimer,
    watch: Callable[..., Driver],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every event is lost, as after an inotify queue overflow.
    monkeypatch.setattr(inbox_module._EventHints, "dispatch", lambda self, event: None)
    driver = watch(rescan_seconds=3600.0)
    (inbox / "unseen.wav").write_bytes(AUDIO)
    driver.let_settle(scan=False)
    assert claimer.rels() == []
    driver.watcher.rescan_now()
    assert driver.wait_for(1) == ["unseen.wav"]


def test_watcher_missed_event_found_by_periodic_rescan(
    inbox: Path,
    claimer: Claimer,
    watch: Callable[..., Driver],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(inbox_module._EventHints, "dispatch", lambda self, event: None)
    driver = watch()
    (inbox / "unseen.wav").write_bytes(AUDIO)
    driver.let_settle(scan=False)
    assert claimer.rels() == []
    driver.clock.advance(RESCAN)
    assert driver.wait_for(1) == ["unseen.wav"]


def test_watcher_inbox_deleted_and_recreated_recovers(
    inbox: Path, claimer: Claimer, watch: Callable[..., Driver]
) -> None:
    driver = watch(rescan_seconds=3600.0)
    (inbox / "before.wav").write_bytes(AUDIO)
    driver.wait_for(1)
    shutil.rmtree(inbox)
    driver.watcher.tick()
    assert any("cannot be read" in problem for problem in claimer.problems)
    inbox.mkdir()
    (inbox / "after.wav").write_bytes(AUDIO)
    assert driver.wait_for(2) == ["before.wav", "after.wav"]
    assert driver.watcher.is_alive()


def test_watcher_stop_ends_threads(watch: Callable[..., Driver]) -> None:
    watcher = watch().watcher
    watcher.stop(timeout=5.0)
    assert not watcher.is_alive()


def test_watcher_inbox_replaced_between_ticks_still_sees_new_files(
    inbox: Path, claimer: Claimer, watch: Callable[..., Driver]
) -> None:
    # A native observer dies with the folder it watched; the poller just polls the new one.
    driver = watch(rescan_seconds=3600.0)
    shutil.rmtree(inbox)
    inbox.mkdir()  # between two ticks: the watcher never sees it missing
    (inbox / "after.wav").write_bytes(AUDIO)
    assert driver.wait_for(1) == ["after.wav"]
    assert not any("cannot be read" in problem for problem in claimer.problems)
    assert driver.watcher.is_alive()


def test_watcher_unwatched_extension_reported_once_with_reason(
    inbox: Path, claimer: Claimer, watch: Callable[..., Driver]
) -> None:
    ignored: list[tuple[str, str]] = []
    (inbox / "call.mkv").write_bytes(AUDIO)
    driver = watch(on_ignored=lambda rel, why: ignored.append((rel, why)))
    (inbox / "notes").write_bytes(b"no extension")
    (inbox / "late.wav").write_bytes(AUDIO)
    driver.wait_for(1)
    for _ in range(3):  # later scans see the same files again
        driver.let_settle(scan=True)
    assert sorted(rel for rel, _ in ignored) == ["call.mkv", "notes"]
    reasons = dict(ignored)
    assert ".mkv is not in watch.extensions" in reasons["call.mkv"]
    assert "no extension" in reasons["notes"]
    assert claimer.rels() == ["late.wav"]


def test_watcher_stopped_inotify_emitter_error_kept_out_of_the_log(
    watch: Callable[..., Driver], caplog: pytest.LogCaptureFixture
) -> None:
    watch()
    emitter_log = logging.getLogger("watchdog.observers.inotify")
    with caplog.at_level(logging.ERROR, logger="watchdog.observers.inotify"):
        emitter_log.error("InotifyEmitter.queue_events() called when the thread is inactive")
        emitter_log.error("a real inotify failure")
    assert [r.getMessage() for r in caplog.records] == ["a real inotify failure"]
